import Foundation

/// Lets a person type a name where an id goes (`environment view prod`): an id is used as
/// it is; anything else is looked up by exact name among what the list shows them.
struct NameLookup {
    let noun: String
    let path: String
    let rows: String

    static let connection = NameLookup(noun: "connection", path: "/api/integrations/connections", rows: "connections")
    static let environment = NameLookup(noun: "environment", path: "/api/environments", rows: "environments")
    static let credential = NameLookup(noun: "credential", path: "/api/integrations/credentials", rows: "credentials")

    /// The id `text` stands for. No match, or several, ends the command (exit 1) saying
    /// what to do: the candidates' ids when the name is not unique.
    func id(_ text: String, _ api: APIClient) async throws -> String {
        if UUID(uuidString: text) != nil { return text }
        // The server's search narrows by part of the name; only an exact name counts here.
        let data = try await api.everyPage({ page in
            path + URLText.query([("page", "\(page)"), ("pageSize", "100"), ("search", text)])
        }, rows: rows)
        let found = ((try JSONSerialization.jsonObject(with: data) as? [String: Any])?[rows] as? [[String: Any]] ?? [])
            .filter { $0["name"] as? String == text }
            .compactMap { $0["id"] as? String }
        switch found.count {
        case 1:
            return found[0]
        case 0:
            throw ClientFailure(exitCode: ClientExit.rejected,
                                message: "no \(noun) is named '\(text)' (and it is not an id); `switchboard \(noun) list` shows the names and ids you can use")
        default:
            throw ClientFailure(exitCode: ClientExit.rejected,
                                message: "\(found.count) \(noun)s are named '\(text)': \(found.sorted().joined(separator: ", ")); give the id of the one you mean")
        }
    }

    /// Every id `texts` stand for, in order.
    func ids(_ texts: [String], _ api: APIClient) async throws -> [String] {
        var ids: [String] = []
        for text in texts { ids.append(try await id(text, api)) }
        return ids
    }
}
