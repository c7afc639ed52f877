// Runs `promtool check metrics` on exposition text; returns its complaints ("" when clean).
import { spawnSync } from "node:child_process";

export function promtoolCheck(text: string): { ok: boolean; output: string } {
  const run = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
  if (run.error) throw new Error(`promtool could not run (install Debian's prometheus package): ${run.error.message}`);
  const output = `${run.stdout}${run.stderr}`;
  // Exit 3 is promtool's style lints (naming advice, missing help); 1 is a parse error.
  const ok = run.status === 0 || (run.status === 3 && !/error/i.test(output));
  return { ok, output };
}
