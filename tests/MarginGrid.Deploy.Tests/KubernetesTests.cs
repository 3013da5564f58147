using k8s;
using k8s.Models;

namespace MarginGrid.Deploy.Tests;

/// <summary>
/// deploy/k8s, offline: `kubectl kustomize` renders it; the output is validated against JSON schemas generated from
/// the Kubernetes OpenAPI document and the Prometheus Operator CRDs (npm kubernetes-models,
/// @kubernetes-models/prometheus-operator; deploy/k8s/validate/validate.mjs), and strictly deserialized into the
/// KubernetesClient models (unknown fields are errors); then the Orleans-specific invariants are checked.
/// </summary>
public sealed class KubernetesTests
{
    private static readonly Lazy<string> Rendered = new(() =>
        Tools.RunOk(Tools.Kubectl, ["kustomize", "deploy/k8s"], timeout: TimeSpan.FromSeconds(60)).StdOut);

    private static readonly string[] BuiltInKinds = ["ServiceAccount", "Role", "RoleBinding", "Service", "Deployment", "PodDisruptionBudget"];

    private static IReadOnlyList<object> BuiltInObjects() =>
        Yaml.SplitDocuments(Rendered.Value)
            .Where(doc => BuiltInKinds.Any(kind => doc.Contains($"\nkind: {kind}\n", StringComparison.Ordinal) || doc.StartsWith($"kind: {kind}\n", StringComparison.Ordinal)))
            .SelectMany(doc => KubernetesYaml.LoadAllFromString(doc, null, true))
            .ToList();

    private static T Single<T>() => BuiltInObjects().OfType<T>().Single();

    private static void RunSchemaValidator(string manifests)
    {
        var validateDir = Repo.PathOf("deploy", "k8s", "validate");
        Assert.True(Directory.Exists(Path.Combine(validateDir, "node_modules", "kubernetes-models")),
            $"deploy/k8s/validate/node_modules is missing: run `npm ci --prefix deploy/k8s/validate` (or {Tools.InstallScript})");
        var result = Tools.Run(Tools.Node, ["deploy/k8s/validate/validate.mjs"], stdin: manifests);
        Assert.True(result.ExitCode == 0, result.Describe());
    }

    [Fact]
    public void Rendered_manifests_validate_against_the_kubernetes_and_prometheus_operator_schemas()
    {
        RunSchemaValidator(Rendered.Value);
    }

    [Fact]
    public void Schema_validator_rejects_an_invalid_manifest()
    {
        // Guards the check above: a wrong type must fail it.
        var broken = Rendered.Value.Replace("replicas: 3", "replicas: three", StringComparison.Ordinal);
        Assert.NotEqual(Rendered.Value, broken);
        var result = Tools.Run(Tools.Node, ["deploy/k8s/validate/validate.mjs"], stdin: broken);
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("/spec/replicas", result.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public void Secret_example_validates_and_supplies_every_key_the_deployment_references()
    {
        var example = Repo.ReadText("deploy", "k8s", "secret.example.yaml");
        RunSchemaValidator(example);
        var secret = (V1Secret)KubernetesYaml.LoadAllFromString(example, null, true).Single();
        var references = Single<V1Deployment>().Spec.Template.Spec.Containers.SelectMany(c => c.Env)
            .Where(e => e.ValueFrom?.SecretKeyRef is not null).Select(e => e.ValueFrom.SecretKeyRef).ToList();
        Assert.NotEmpty(references);
        Assert.All(references, r =>
        {
            Assert.Equal(secret.Metadata.Name, r.Name);
            Assert.Contains(r.Key, secret.StringData.Keys);
        });
    }

    [Fact]
    public void Built_in_objects_have_no_unknown_fields()
    {
        // Strict deserialization throws on a field the Kubernetes model does not have (a typo like "readinesProbe").
        Assert.Equal(BuiltInKinds.Length, BuiltInObjects().Count);
        var typo = Rendered.Value.Replace("readinessProbe:", "readinesProbe:", StringComparison.Ordinal);
        Assert.ThrowsAny<Exception>(() => Yaml.SplitDocuments(typo)
            .Where(doc => doc.Contains("\nkind: Deployment\n", StringComparison.Ordinal))
            .SelectMany(doc => KubernetesYaml.LoadAllFromString(doc, null, true)).ToList());
    }

    [Fact]
    public void No_secret_is_rendered_and_secrets_reach_the_silo_only_through_secretKeyRef()
    {
        Assert.DoesNotContain("\nkind: Secret\n", Rendered.Value, StringComparison.Ordinal);
        var env = Single<V1Deployment>().Spec.Template.Spec.Containers.Single().Env;
        var sensitive = env.Where(e => e.Name.StartsWith("ConnectionStrings__", StringComparison.Ordinal) || e.Name.EndsWith("__Hash", StringComparison.Ordinal)).ToList();
        Assert.Contains(sensitive, e => e.Name == "ConnectionStrings__MarginGrid");
        Assert.All(sensitive, e =>
        {
            Assert.Null(e.Value);
            Assert.NotNull(e.ValueFrom?.SecretKeyRef);
        });
    }

    [Fact]
    public void Silo_pods_carry_what_orleans_kubernetes_hosting_reads()
    {
        var deployment = Single<V1Deployment>();
        var pod = deployment.Spec.Template;
        Assert.True(pod.Metadata.Labels.ContainsKey("orleans/serviceId"));
        Assert.True(pod.Metadata.Labels.ContainsKey("orleans/clusterId"));
        var env = pod.Spec.Containers.Single().Env.ToDictionary(e => e.Name);
        Assert.Equal("metadata.name", env["POD_NAME"].ValueFrom.FieldRef.FieldPath);
        Assert.Equal("metadata.namespace", env["POD_NAMESPACE"].ValueFrom.FieldRef.FieldPath);
        Assert.Equal("status.podIP", env["POD_IP"].ValueFrom.FieldRef.FieldPath);
        Assert.Equal("status.podIP", env["Orleans__AdvertisedIP"].ValueFrom.FieldRef.FieldPath);
        Assert.Equal("metadata.labels['orleans/serviceId']", env["ORLEANS_SERVICE_ID"].ValueFrom.FieldRef.FieldPath);
        Assert.Equal("metadata.labels['orleans/clusterId']", env["ORLEANS_CLUSTER_ID"].ValueFrom.FieldRef.FieldPath);
        Assert.Equal("metadata.labels['orleans/serviceId']", env["Orleans__ServiceId"].ValueFrom.FieldRef.FieldPath);
        Assert.Equal("metadata.labels['orleans/clusterId']", env["Orleans__ClusterId"].ValueFrom.FieldRef.FieldPath);
        Assert.Equal("11111", env["Orleans__SiloPort"].Value);
        Assert.Equal("30000", env["Orleans__GatewayPort"].Value);
        Assert.Equal("8080", env["MarginGrid__Http__Port"].Value);

        var account = Single<V1ServiceAccount>();
        Assert.Equal(account.Metadata.Name, pod.Spec.ServiceAccountName);
        var role = Single<V1Role>();
        var rule = Assert.Single(role.Rules);
        Assert.Equal([""], rule.ApiGroups);
        Assert.Equal(["pods"], rule.Resources);
        Assert.Superset(new HashSet<string>(["get", "watch", "list", "delete", "patch"]), rule.Verbs.ToHashSet());
        var binding = Single<V1RoleBinding>();
        Assert.Equal(role.Metadata.Name, binding.RoleRef.Name);
        Assert.Equal("Role", binding.RoleRef.Kind);
        Assert.Contains(binding.Subjects, s => s.Kind == "ServiceAccount" && s.Name == account.Metadata.Name);
    }

    [Fact]
    public void Silo_has_probes_cpu_request_without_cpu_limit_and_runs_as_the_image_user()
    {
        var deployment = Single<V1Deployment>();
        var container = deployment.Spec.Template.Spec.Containers.Single();
        Assert.Equal("/health/ready", container.ReadinessProbe.HttpGet.Path);
        Assert.Equal("/health/live", container.LivenessProbe.HttpGet.Path);
        Assert.True(container.Resources.Requests.ContainsKey("cpu"));
        Assert.False(container.Resources.Limits?.ContainsKey("cpu") ?? false, "no CPU limit on silos");
        Assert.Contains(container.Ports, p => p.Name == "http" && p.ContainerPort == 8080);
        Assert.True(deployment.Spec.Template.Spec.SecurityContext.RunAsNonRoot);
        Assert.Equal(DockerfileTests.RuntimeUserId(), deployment.Spec.Template.Spec.SecurityContext.RunAsUser);
        Assert.Equal(0, Convert.ToInt32(deployment.Spec.Strategy.RollingUpdate.MaxUnavailable.Value, System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public void Service_pdb_and_servicemonitor_select_the_silo_pods()
    {
        var podLabels = Single<V1Deployment>().Spec.Template.Metadata.Labels;
        bool Selects(IDictionary<string, string> selector) => selector.All(s => podLabels.TryGetValue(s.Key, out var v) && v == s.Value);

        var service = Single<V1Service>();
        Assert.True(Selects(service.Spec.Selector));
        Assert.Contains(service.Spec.Ports, p => p.Name == "http" && p.Port == 8080);
        var pdb = Single<V1PodDisruptionBudget>();
        Assert.True(Selects(pdb.Spec.Selector.MatchLabels));

        var monitor = Yaml.ParseAll(Rendered.Value).Single(d => d["kind"]!.GetValue<string>() == "ServiceMonitor");
        var selector = monitor["spec"]!["selector"]!["matchLabels"]!.AsObject();
        Assert.All(selector, s => Assert.Equal(s.Value!.GetValue<string>(), service.Metadata.Labels[s.Key]));
        var endpoint = monitor["spec"]!["endpoints"]![0]!;
        Assert.Equal("http", endpoint["port"]!.GetValue<string>());
        Assert.Equal("/metrics", endpoint["path"]!.GetValue<string>());
        // job="margingrid", which the alert rules select on.
        Assert.Equal("margingrid", service.Metadata.Labels[monitor["spec"]!["jobLabel"]!.GetValue<string>()]);
    }
}
