import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** The version of an installed package, read from its package.json. */
export function installedVersion(pkg: string): string {
  return (require(`${pkg}/package.json`) as { version: string }).version;
}

/**
 * Where the bridge reaches into a library's internals it pins that library's exact version
 * (package.json) and checks at start-up that the version and the members it uses are there,
 * so an upgrade fails loudly at start instead of misbehaving under load.
 */
export function assertInternals(pkg: string, pinned: string, missing: readonly string[]): void {
  const version = installedVersion(pkg);
  const problems = [...(version !== pinned ? [`${pkg} ${version} is installed, the bridge is built against ${pinned}`] : []), ...missing];
  if (problems.length > 0) throw new Error(`unsupported ${pkg}: ${problems.join('; ')}`);
}
