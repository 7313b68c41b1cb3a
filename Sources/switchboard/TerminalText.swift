import SwitchboardEngine

/// Text from the server (names, reasons, errors: another user may have written them) made
/// safe for a terminal: control characters and bidirectional overrides are shown as escapes
/// instead of being sent to the terminal, where an escape sequence could rewrite the screen
/// or set the window title, a CR or LF could forge a table row, and U+202E could show
/// `admin\u{202E}gnp.exe` as `adminexe.png` (the server refuses these in names, but not in
/// reasons or descriptions, nor in rows written before that rule). JSON and YAML output stays
/// exact: it is for programs.
enum TerminalText {
    static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: ConnectionRules.isHidden) else { return text }
        var result = ""
        result.unicodeScalars.reserveCapacity(text.unicodeScalars.count + 8)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case "\u{1B}": result += "\\e"
            case _ where ConnectionRules.isHidden(scalar): result += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}
