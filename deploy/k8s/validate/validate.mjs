// Validates Kubernetes manifests offline against JSON schemas generated from the
// Kubernetes OpenAPI document (npm kubernetes-models) and from the Prometheus Operator
// CRDs (npm @kubernetes-models/prometheus-operator). Reads a multi-document YAML stream
// on stdin, normally `kubectl kustomize deploy/k8s`:
//   kubectl kustomize deploy/k8s | node deploy/k8s/validate/validate.mjs
// Prints one line per object and exits 1 on the first invalid or unknown kind.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

const models = {
  "v1/ServiceAccount": ["kubernetes-models/v1/ServiceAccount", "ServiceAccount"],
  "v1/Service": ["kubernetes-models/v1/Service", "Service"],
  "v1/Secret": ["kubernetes-models/v1/Secret", "Secret"],
  "v1/ConfigMap": ["kubernetes-models/v1/ConfigMap", "ConfigMap"],
  "apps/v1/Deployment": ["kubernetes-models/apps/v1/Deployment", "Deployment"],
  "apps/v1/StatefulSet": ["kubernetes-models/apps/v1/StatefulSet", "StatefulSet"],
  "policy/v1/PodDisruptionBudget": ["kubernetes-models/policy/v1/PodDisruptionBudget", "PodDisruptionBudget"],
  "rbac.authorization.k8s.io/v1/Role": ["kubernetes-models/rbac.authorization.k8s.io/v1/Role", "Role"],
  "rbac.authorization.k8s.io/v1/RoleBinding": ["kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding", "RoleBinding"],
  "monitoring.coreos.com/v1/ServiceMonitor": ["@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor", "ServiceMonitor"],
  "monitoring.coreos.com/v1/PrometheusRule": ["@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule", "PrometheusRule"],
};

const input = readFileSync(0, "utf8");
const docs = parseAllDocuments(input);
let failures = 0;
let count = 0;
for (const doc of docs) {
  if (doc.errors.length > 0) {
    console.error(`YAML error: ${doc.errors.map((e) => e.message).join("; ")}`);
    failures++;
    continue;
  }
  const obj = doc.toJS();
  if (obj == null) continue;
  count++;
  const key = `${obj.apiVersion}/${obj.kind}`;
  const name = obj.metadata?.name ?? "<no name>";
  const entry = models[key];
  if (!entry) {
    console.error(`INVALID ${key} ${name}: no schema for this apiVersion/kind`);
    failures++;
    continue;
  }
  const mod = await import(entry[0]);
  const Model = mod[entry[1]];
  try {
    new Model(obj).validate();
    console.log(`valid ${key} ${name}`);
  } catch (e) {
    const details = (e.errors ?? []).map((x) => `${x.instancePath || "/"} ${x.message ?? x.keyword} ${JSON.stringify(x.params ?? {})}`);
    console.error(`INVALID ${key} ${name}: ${e.message}${details.length ? "\n  " + details.join("\n  ") : ""}`);
    failures++;
  }
}
if (count === 0) {
  console.error("no Kubernetes object on stdin");
  process.exit(1);
}
console.log(`${count} objects, ${failures} invalid`);
process.exit(failures === 0 ? 0 : 1);
