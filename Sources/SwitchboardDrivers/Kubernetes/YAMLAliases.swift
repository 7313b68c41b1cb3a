import CYaml

/// Finds YAML aliases: anywhere (uploaded kubeconfigs), or in mapping keys (`? *name`,
/// `{[*name]: …}`), which every YAML document Switchboard reads is checked for.
///
/// Keys: Yams checks every mapping for duplicate keys by hashing each key, and an alias is hashed
/// as all that it stands for. Aliases of aliases multiply: with a key `*a7` (ten `*a6`, each
/// ten `*a5`, …) a 400-byte upload kept a core busy for a minute in a debug build, and each
/// further level takes ten times as long. Kubeconfig keys are plain words, so such a
/// document is refused before Yams builds it.
///
/// Anywhere: an alias as a value is copied wherever it is used, so 256 users saying
/// `token: *big` turned a 0.9 MB upload into 203 credentials and 178 MB of sealed secrets.
/// kubectl never writes aliases, so uploads may not hold any.
enum YAMLAliases {
    /// Where the first alias is (1-based line and column), or `nil`. Text libyaml cannot
    /// read gives `nil` too: Yams then reports the error.
    static func first(in yaml: String) -> (line: Int, column: Int)? {
        first(in: yaml, keysOnly: false)
    }

    /// Where the first alias inside a mapping key is (1-based line and column), or `nil`.
    static func firstInKey(in yaml: String) -> (line: Int, column: Int)? {
        first(in: yaml, keysOnly: true)
    }

    private static func first(in yaml: String, keysOnly: Bool) -> (line: Int, column: Int)? {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { return nil }
        defer { yaml_parser_delete(&parser) }
        let bytes = Array(yaml.utf8)
        return bytes.withUnsafeBufferPointer { buffer in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            // One entry per open collection: whether it is a mapping whose next node is a key,
            // and whether the collection itself lies inside a key.
            var open: [(isMapping: Bool, keyNext: Bool, inKey: Bool)] = []
            func nodeDone() {
                guard let last = open.indices.last, open[last].isMapping else { return }
                open[last].keyNext.toggle()
            }
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else { return nil }
                defer { yaml_event_delete(&event) }
                let inKey = open.last.map { $0.inKey || ($0.isMapping && $0.keyNext) } ?? false
                switch event.type {
                case YAML_ALIAS_EVENT:
                    if inKey || !keysOnly { return (Int(event.start_mark.line) + 1, Int(event.start_mark.column) + 1) }
                    nodeDone()
                case YAML_SCALAR_EVENT:
                    nodeDone()
                case YAML_SEQUENCE_START_EVENT:
                    open.append((isMapping: false, keyNext: false, inKey: inKey))
                case YAML_MAPPING_START_EVENT:
                    open.append((isMapping: true, keyNext: true, inKey: inKey))
                case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                    open.removeLast()
                    nodeDone()
                case YAML_STREAM_END_EVENT:
                    return nil
                default:
                    break
                }
            }
        }
    }
}
