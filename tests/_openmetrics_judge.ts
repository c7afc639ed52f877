// The OpenMetrics judge: prometheus_client's strict parser (Debian's python3-prometheus-client),
// itself checked against the OpenMetrics project's 211 parser cases before it judges us.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const script = fileURLToPath(new URL("./support/om_check.py", import.meta.url));

export function openMetricsCheck(text: string): { ok: boolean; output: string } {
  const run = spawnSync("/usr/bin/python3", [script], { input: text, encoding: "utf8" });
  if (run.error) throw new Error(`python3 could not run (install python3-prometheus-client): ${run.error.message}`);
  return { ok: run.status === 0, output: `${run.stdout}${run.stderr}` };
}
