// The Helm chart renders its CRDs from charts/mqbridge/files/crds/, copies of crds/ (the source
// of truth, which the operator's tests use). They must stay byte-identical:
// scripts/sync-chart-crds.sh copies them.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

// Compiled to dist/test/unit/, so the repository root is three levels up.
const ROOT = new URL('../../../', import.meta.url);
const SRC = new URL('crds/', ROOT);
const CHART = new URL('charts/mqbridge/files/crds/', ROOT);
const FIX = 'run `bash scripts/sync-chart-crds.sh` to copy crds/ into the chart';

const yamlFiles = (dir: URL) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort();

describe('chart CRDs (charts/mqbridge/files/crds/) are copies of crds/', () => {
  const sources = yamlFiles(SRC);

  test('crds/ has CRDs', () => {
    expect(sources.length).toBeGreaterThan(0);
  });

  test('the chart has exactly the same files', () => {
    const copies = yamlFiles(CHART);
    const missing = sources.filter((f) => !copies.includes(f));
    const extra = copies.filter((f) => !sources.includes(f));
    if (missing.length || extra.length) {
      throw new Error(`chart CRDs out of sync (missing: ${missing.join(', ') || 'none'}; extra: ${extra.join(', ') || 'none'}): ${FIX}`);
    }
  });

  test.each(sources)('%s is identical', (file) => {
    const source = readFileSync(new URL(file, SRC), 'utf8');
    let copy: string;
    try {
      copy = readFileSync(new URL(file, CHART), 'utf8');
    } catch {
      throw new Error(`${fileURLToPath(new URL(file, CHART))} is missing: ${FIX}`);
    }
    if (copy !== source) throw new Error(`${fileURLToPath(new URL(file, CHART))} differs from crds/${file}: ${FIX}`);
  });

  test.each(sources)('%s is one CustomResourceDefinition the chart template can render', (file) => {
    // templates/crds.yaml reads each file with fromYaml: one document, metadata as a map.
    const doc = parse(readFileSync(new URL(file, SRC), 'utf8')) as { kind?: string; metadata?: { name?: string; annotations?: unknown } };
    expect(doc.kind).toBe('CustomResourceDefinition');
    expect(typeof doc.metadata?.name).toBe('string');
  });
});
