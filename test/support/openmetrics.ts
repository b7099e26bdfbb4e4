import { execFile } from 'node:child_process';

/** One sample of a scrape, as a real OpenMetrics parser read it. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

// Debian's python3-prometheus-client: the reference parser of the exposition format, not ours
const PARSER = `
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
out = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        out.append({"name": s.name, "labels": s.labels, "value": s.value if s.value == s.value else None})
print(json.dumps(out))
`;

/**
 * Parses an OpenMetrics exposition with prometheus_client's strict OpenMetrics parser
 * (rejects a missing `# EOF`, bad names, bad escapes). Throws with the parser's message.
 */
export function parseOpenMetrics(text: string): Promise<Sample[]> {
  return new Promise((resolve, reject) => {
    const child = execFile('/usr/bin/python3', ['-c', PARSER], { maxBuffer: 16 * 2 ** 20 }, (err, stdout, stderr) =>
      err ? reject(new Error(`OpenMetrics parser refused the scrape: ${stderr}`)) : resolve(JSON.parse(stdout) as Sample[]),
    );
    child.stdin!.end(text);
  });
}

/** The sum of the samples named `name` whose labels include `labels`. */
export function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((n, s) => n + (s.value ?? 0), 0);
}
