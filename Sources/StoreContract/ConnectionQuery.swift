import ConnectionLifecycle
import Foundation

/// Filters, order and page of a connection list. Filters of one field are alternatives
/// (`kind=a&kind=b`), filters of different fields must all hold.
public struct ConnectionQuery: Sendable, Hashable {
    public var kinds: [String]
    /// Empty means every status but `deleted`: tombstones show only when asked for.
    public var statuses: [ConnectionStatus]
    public var types: [String]
    /// Members of any of these environments.
    public var environments: [UUID]
    /// Only this owner's connections (`nil`: everyone's)…
    public var owner: UUID?
    /// …and those in environments shared with this user.
    public var sharedWith: UUID?
    /// Partial, case-insensitive match on the name.
    public var name: String?
    /// Partial, case-insensitive match on the name or the url.
    public var search: String?
    public var order: ConnectionOrder
    public var page: Int
    public var pageSize: Int

    public init(
        kinds: [String] = [], statuses: [ConnectionStatus] = [], types: [String] = [], environments: [UUID] = [],
        owner: UUID? = nil, sharedWith: UUID? = nil, name: String? = nil, search: String? = nil, order: ConnectionOrder = .default,
        page: Int = 0, pageSize: Int = 10
    ) {
        self.kinds = kinds
        self.statuses = statuses
        self.types = types
        self.environments = environments
        self.owner = owner
        self.sharedWith = sharedWith
        self.name = name
        self.search = search
        self.order = order
        self.page = page
        self.pageSize = pageSize
    }
}

/// A sort order such as `name asc` or `updatedAt desc`.
public struct ConnectionOrder: Sendable, Hashable {
    public enum Field: String, Sendable, CaseIterable {
        case name, kind, status, type, subType, createdAt, updatedAt, id

        /// The name as written here (`updatedAt`) or in Meshery's snake_case (`updated_at`), in any
        /// case, or the name of a column of Meshery UI's connection table that sorts by it
        /// (`ConnectionID`; see `ui/components/connections/ConnectionTable.columns.tsx`): what the
        /// API document's pattern for `order` allows.
        init?(spelling: String) {
            // ASCII only: a Unicode lowercasing would let the Kelvin sign spell `kind`.
            let key = String(spelling.map { $0.isASCII ? Character($0.lowercased()) : $0 })
            if let field = Field.allCases.first(where: { $0.rawValue.lowercased() == key || $0.snakeCase == key }) {
                self = field
            } else if key == "connectionid" || key == "connection_id" {
                self = .id
            } else {
                return nil
            }
        }

        var snakeCase: String {
            rawValue.map { $0.isUppercase ? "_" + $0.lowercased() : String($0) }.joined()
        }

        /// The column it sorts by in every SQL backend (`updated_at`).
        public var column: String { snakeCase }
    }

    public var field: Field
    public var descending: Bool

    public init(field: Field, descending: Bool) {
        self.field = field
        self.descending = descending
    }

    public static let `default` = ConnectionOrder(field: .updatedAt, descending: true)

    /// Parses `field [asc|desc]`; returns `nil` for anything else.
    public init?(parsing text: String) {
        let words = text.split(whereSeparator: { $0 == " " || $0 == "+" }).map(String.init)
        guard (1...2).contains(words.count), let field = Field(spelling: words[0]) else { return nil }
        switch words.count == 2 ? words[1].lowercased() : "asc" {
        case "asc": self.init(field: field, descending: false)
        case "desc": self.init(field: field, descending: true)
        default: return nil
        }
    }

    public var text: String { "\(field.rawValue) \(descending ? "desc" : "asc")" }
}

extension ConnectionQuery {
    /// `%text%` for a SQL `LIKE … ESCAPE '\\'`, with LIKE's wildcards in `text` escaped so
    /// they match literally (every SQL backend searches this way).
    public static func containsPattern(_ text: String) -> String {
        var escaped = ""
        for character in text {
            if character == "%" || character == "_" || character == "\\" { escaped.append("\\") }
            escaped.append(character)
        }
        return "%\(escaped)%"
    }
}
