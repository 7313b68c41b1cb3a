import Foundation
import Hummingbird

/// JSON in and out: dates as RFC 3339 with milliseconds, decoding errors as clear 400s.
enum JSONBody {
    /// The largest request body the API reads.
    static let maxRequestBytes = 1 << 20

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(timestamp(date))
        }
        return encoder
    }()

    /// `2026-11-26T00:16:04.221Z`: RFC 3339 in UTC with milliseconds. Written by hand: a
    /// format style per date was a tenth of a connection's encoding time.
    static func timestamp(_ date: Date) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        var seconds = time_t(milliseconds.quotientAndRemainder(dividingBy: 1000).quotient)
        var fraction = Int(milliseconds - Int64(seconds) * 1000)
        if fraction < 0 { fraction += 1000; seconds -= 1 }
        var parts = tm()
        gmtime_r(&seconds, &parts)
        var text: [UInt8] = []
        text.reserveCapacity(24)
        func digits(_ value: Int, _ count: Int) {
            var divisor = 1
            for _ in 1..<count { divisor *= 10 }
            var rest = value
            while divisor > 0 {
                text.append(UInt8(ascii: "0") + UInt8(rest / divisor % 10))
                rest %= divisor
                divisor /= 10
            }
        }
        digits(Int(parts.tm_year) + 1900, 4); text.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mon) + 1, 2); text.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mday), 2); text.append(UInt8(ascii: "T"))
        digits(Int(parts.tm_hour), 2); text.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_min), 2); text.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_sec), 2); text.append(UInt8(ascii: "."))
        digits(fraction, 3); text.append(UInt8(ascii: "Z"))
        return String(decoding: text, as: UTF8.self)
    }

    static func response(_ value: some Encodable, status: HTTPResponse.Status = .ok,
                         contentType: String = "application/json") throws -> Response {
        let data = try encoder.encode(value)
        return Response(status: status, headers: [.contentType: contentType],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// An answer written by hand (see `JSONWriter`).
    static func response(written writer: JSONWriter, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"],
                 body: ResponseBody(byteBuffer: ByteBuffer(bytes: writer.bytes)))
    }

    /// Reads and decodes the request body; anything malformed becomes a 400 problem that
    /// names the field at fault.
    static func decode<T: Decodable>(_ type: T.Type, from request: Request) async throws -> T {
        var request = request
        let buffer = try await request.collectBody(upTo: maxRequestBytes)
        return try decode(T.self, from: Data(buffer.readableBytesView))
    }

    /// Decodes a request body already read; the fuzz target (`Sources/fuzz-inputs`) feeds
    /// its inputs through here, so it checks exactly what the routes do.
    static func decode<T: Decodable>(_ type: T.Type, from body: Data) throws -> T {
        guard !body.isEmpty else { throw Problem.badRequest("the request needs a JSON body") }
        if holdsNUL(body) { throw Problem.badRequest(nulDetail) }
        if nestsDeeperThan(maxNesting, body) { throw Problem.badRequest(nestingDetail) }
        do {
            return try JSONDecoder().decode(T.self, from: body)
        } catch let error as DecodingError {
            throw Problem.badRequest(describe(error), field: fieldPath(error))
        }
    }

    /// Text is stored in SQLite, which ends a string at U+0000, so none is accepted anywhere.
    static let nulDetail = "the request holds the character U+0000 (NUL), which no text may contain"

    /// No request needs more: metadata is the only free-form part, and the decoder gives up
    /// at 512 levels with only "not valid JSON" to say.
    static let maxNesting = 64
    static let nestingDetail = "the body nests arrays and objects more than \(maxNesting) levels deep; no request needs that many"

    /// Whether JSON text opens more than `limit` arrays and objects inside each other
    /// (brackets inside strings do not count).
    static func nestsDeeperThan(_ limit: Int, _ bytes: some Collection<UInt8>) -> Bool {
        var depth = 0
        var inString = false
        var escaped = false
        for byte in bytes {
            if inString {
                if escaped { escaped = false }
                else if byte == UInt8(ascii: "\\") { escaped = true }
                else if byte == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
                if depth > limit { return true }
            case UInt8(ascii: "]"), UInt8(ascii: "}"): depth -= 1
            default: break
            }
        }
        return false
    }

    /// Whether JSON text holds a NUL: the escape `\u0000` in a string, or the byte itself.
    static func holdsNUL(_ bytes: some Collection<UInt8>) -> Bool {
        let bytes = Array(bytes)
        let escape = Array("u0000".utf8)
        var index = 0
        while index < bytes.count {
            switch bytes[index] {
            case 0:
                return true
            case UInt8(ascii: "\\"):
                // An escape is at least two bytes (`\\` is a backslash), so skipping both keeps
                // an escaped backslash followed by `u0000` from counting.
                if Array(bytes[(index + 1)...].prefix(escape.count)) == escape { return true }
                index += 2
            default:
                index += 1
            }
        }
        return false
    }

    private static func fieldPath(_ error: DecodingError) -> String? {
        let path: [any CodingKey]
        switch error {
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            path = context.codingPath
        case .keyNotFound(let key, let context):
            path = context.codingPath + [key]
        @unknown default:
            return nil
        }
        let text = path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        return text.isEmpty ? nil : text.replacingOccurrences(of: ".[", with: "[")
    }

    private static func describe(_ error: DecodingError) -> String {
        switch error {
        case .typeMismatch(let type, _):
            return "field '\(fieldPath(error) ?? "body")' has the wrong type: expected \(jsonName(of: type))"
        case .valueNotFound(let type, _):
            return "field '\(fieldPath(error) ?? "body")' is null: expected \(jsonName(of: type))"
        case .keyNotFound:
            return "field '\(fieldPath(error) ?? "?")' is required"
        case .dataCorrupted(let context):
            if let field = fieldPath(error) { return "field '\(field)' is not valid: \(context.debugDescription)" }
            return "the body is not valid JSON"
        @unknown default:
            return "the body could not be read"
        }
    }

    private static func jsonName(of type: Any.Type) -> String {
        switch type {
        case is String.Type, is UUID.Type: "a string"
        case is Int.Type, is Int64.Type, is Double.Type: "a number"
        case is Bool.Type: "a boolean"
        default:
            String(describing: type).hasPrefix("Array") ? "an array" : "an object"
        }
    }
}
