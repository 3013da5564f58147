// Writes deploy/k8s/prometheusrule.yaml from deploy/prometheus/rules/*.yml, so that the
// Prometheus Operator loads exactly the rules promtool checks and unit-tests.
//   node deploy/k8s/validate/gen-prometheusrule.mjs           # rewrite
//   node deploy/k8s/validate/gen-prometheusrule.mjs --check   # exit 1 if out of date
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse, stringify } from "yaml";

const here = dirname(fileURLToPath(import.meta.url));
const rulesDir = join(here, "..", "..", "prometheus", "rules");
const target = join(here, "..", "prometheusrule.yaml");

const groups = readdirSync(rulesDir)
  .filter((f) => f.endsWith(".yml") || f.endsWith(".yaml"))
  .sort()
  .flatMap((f) => parse(readFileSync(join(rulesDir, f), "utf8")).groups);

const rule = {
  apiVersion: "monitoring.coreos.com/v1",
  kind: "PrometheusRule",
  metadata: { name: "margingrid", labels: { "app.kubernetes.io/name": "margingrid" } },
  spec: { groups },
};
const text =
  "# GENERATED from deploy/prometheus/rules/*.yml by deploy/k8s/validate/gen-prometheusrule.mjs.\n" +
  "# Do not edit: change the rules there and run `node deploy/k8s/validate/gen-prometheusrule.mjs`.\n" +
  stringify(rule, { lineWidth: 0 });

if (process.argv.includes("--check")) {
  if (readFileSync(target, "utf8") !== text) {
    console.error(`${target} is out of date: run node deploy/k8s/validate/gen-prometheusrule.mjs`);
    process.exit(1);
  }
  console.log("prometheusrule.yaml is up to date");
} else {
  writeFileSync(target, text);
  console.log(`wrote ${target}`);
}
