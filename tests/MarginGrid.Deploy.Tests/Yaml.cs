using System.Text.Json.Nodes;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.Serialization;

namespace MarginGrid.Deploy.Tests;

/// <summary>YAML read into <see cref="JsonNode"/> trees (every scalar a string), for navigation and comparison.</summary>
internal static class Yaml
{
    private static readonly IDeserializer Deserializer = new DeserializerBuilder().Build();
    private static readonly ISerializer JsonWriter = new SerializerBuilder().JsonCompatible().Build();

    public static JsonNode Parse(string text) =>
        ParseAll(text).SingleOrDefault() ?? throw new InvalidOperationException("empty YAML document");

    public static JsonNode Load(params string[] pathParts) => Parse(Repo.ReadText(pathParts));

    public static IReadOnlyList<JsonNode> ParseAll(string text)
    {
        var documents = new List<JsonNode>();
        var parser = new Parser(new StringReader(text));
        parser.Consume<StreamStart>();
        while (parser.Accept<DocumentStart>(out _))
        {
            var value = Deserializer.Deserialize<object?>(parser);
            if (value is not null)
            {
                documents.Add(JsonNode.Parse(JsonWriter.Serialize(value))!);
            }
        }

        return documents;
    }

    /// <summary>Splits a multi-document YAML stream into the text of each non-empty document.</summary>
    public static IReadOnlyList<string> SplitDocuments(string text) =>
        text.Split("\n---", StringSplitOptions.None)
            .Select(doc => doc.TrimStart('-', '\n'))
            .Where(doc => doc.Split('\n').Any(line => line.Trim().Length > 0 && !line.TrimStart().StartsWith('#')))
            .ToList();
}
