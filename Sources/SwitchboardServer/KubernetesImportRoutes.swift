import ConnectionLifecycle
import Foundation
import Hummingbird
import MultipartKit
import SwitchboardDrivers
import SwitchboardEngine

/// Kubeconfig import, on Meshery's path: `POST /api/system/kubernetes` takes a multipart
/// form with the kubeconfig in `k8sfile` and imports every context (or the
/// `selectedContexts`); `POST /api/system/kubernetes/contexts` takes the same form, checks
/// each context's reachability and stores nothing.
struct KubernetesImportRoutes<Context: RequestContext>: Sendable {
    let engine: ConnectionEngine
    let importer: KubeconfigImporter
    let limits: RouteLimits

    func register(on router: Router<Context>) {
        let group = router.group("api/system/kubernetes")
        group.post(use: importKubeconfig)
        group.post("contexts", use: previewContexts)
    }

    /// The form fields; `selectedContexts` is a JSON array or a comma-separated list.
    struct Form: Decodable {
        var k8sfile: String?
        var selectedContexts: String?
        var connectReachable: String?
    }

    @Sendable func importKubeconfig(_ request: Request, context: Context) async throws -> Response {
        let form = try await Self.readForm(request)
        let kubeconfig = try Self.kubeconfig(form)
        let selection = try Self.selection(form)
        let connectReachable = try Self.flag(form.connectReachable, name: "connectReachable")
        let principal = RequestPrincipal.current
        let results = try await limits.kubeconfigImports.run {
            try await importer.importKubeconfig(kubeconfig, origin: .uploaded, selectedContexts: selection,
                                                connectReachable: connectReachable, owner: principal.userId, by: principal)
        }
        return try JSONBody.response(ImportResponse(results, kinds: engine.kinds))
    }

    @Sendable func previewContexts(_ request: Request, context: Context) async throws -> Response {
        let form = try await Self.readForm(request)
        let kubeconfig = try Self.kubeconfig(form)
        // The preview covers what the import would: only the selected contexts.
        let selection = try Self.selection(form)
        let owner = RequestPrincipal.current.userId
        let results = try await limits.kubeconfigImports.run {
            try await importer.preview(kubeconfig, origin: .uploaded, selectedContexts: selection, owner: owner)
        }
        return try JSONBody.response(ImportResponse(results, kinds: engine.kinds))
    }

    // MARK: Reading the form

    static func readForm(_ request: Request) async throws -> Form {
        guard let contentType = request.headers[.contentType],
              contentType.lowercased().hasPrefix("multipart/form-data"),
              let boundary = boundary(in: contentType) else {
            throw Problem("unsupported-media-type", title: "Send the kubeconfig as a multipart form",
                          status: .unsupportedMediaType,
                          detail: "send multipart/form-data with the kubeconfig in the field 'k8sfile', e.g. curl -F k8sfile=@$HOME/.kube/config")
        }
        var request = request
        let body = try await request.collectBody(upTo: JSONBody.maxRequestBytes)
        if holdsNonASCIIHeaderName(body, boundary: boundary) {
            throw Problem.badRequest("the multipart form could not be read: a part's header name is not ASCII")
        }
        let form: Form
        do {
            form = try FormDataDecoder().decode(Form.self, from: body, boundary: boundary)
        } catch {
            throw Problem.badRequest("the multipart form could not be read: \(error)")
        }
        for (name, value) in [("k8sfile", form.k8sfile), ("selectedContexts", form.selectedContexts),
                              ("connectReachable", form.connectReachable)] where value?.contains("\0") == true {
            throw Problem.badRequest(JSONBody.nulDetail, field: name)
        }
        return form
    }

    /// Whether a part's header names hold a byte above 0x7F. MultipartKit 4.7.1 stops the
    /// process on one (its table of header name characters has 128 entries) instead of failing
    /// to parse, so such a form never reaches it. Looks at the header lines after every
    /// `--boundary`, up to the blank line: the bytes before each line's first colon.
    static func holdsNonASCIIHeaderName(_ body: ByteBuffer, boundary: String) -> Bool {
        let bytes = Array(body.readableBytesView)
        let delimiter = Array("--\(boundary)".utf8)
        var start = 0
        while let found = bytes[start...].firstRange(of: delimiter) {
            var index = found.upperBound
            var inName = false  // The delimiter's own line ends first.
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\r"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "\n") {
                    // An empty line ends the headers.
                    if inName, index > 0, bytes[index - 1] == UInt8(ascii: "\n") { break }
                    inName = true
                    index += 2
                    continue
                }
                if byte == UInt8(ascii: ":") { inName = false }
                if inName, byte > 0x7F { return true }
                index += 1
            }
            // A delimiter inside header lines is no delimiter to the parser either.
            start = max(found.upperBound, index)
        }
        return false
    }

    static func boundary(in contentType: String) -> String? {
        for parameter in contentType.split(separator: ";").dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if pair.count == 2, pair[0].lowercased() == "boundary" {
                return pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            }
        }
        return nil
    }

    static func kubeconfig(_ form: Form) throws -> String {
        guard let text = form.k8sfile, !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw Problem.badRequest("the form has no kubeconfig: put it in the field 'k8sfile'", field: "k8sfile")
        }
        // A file that is not a kubeconfig at all (or one without contexts) is the caller's
        // mistake, not the server's.
        do {
            _ = try KubeconfigImport.contexts(in: text, origin: .uploaded)
        } catch {
            throw Problem.badRequest("\(error)", field: "k8sfile")
        }
        return text
    }

    static func selection(_ form: Form) throws -> Set<String>? {
        guard let text = form.selectedContexts?.trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty else {
            return nil
        }
        if text.hasPrefix("[") {
            guard let names = try? JSONDecoder().decode([String].self, from: Data(text.utf8)) else {
                throw Problem.badRequest("selectedContexts must be a JSON array of context names or a comma-separated list",
                                         field: "selectedContexts")
            }
            return Set(names)
        }
        return Set(text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
    }

    static func flag(_ text: String?, name: String) throws -> Bool {
        switch text?.trimmingCharacters(in: .whitespaces).lowercased() {
        case nil, "", "false", "0": return false
        case "true", "1": return true
        case let other?: throw Problem.badRequest("\(name) must be true or false, not '\(other)'", field: name)
        }
    }
}

/// The import's answer: one entry per context of the file, and counts by outcome.
struct ImportResponse: Encodable {
    var contexts: [ContextResult]
    var summary: [String: Int]

    struct ContextResult: Encodable {
        var name: String
        @NullWhenAbsent var cluster: String?
        @NullWhenAbsent var user: String?
        @NullWhenAbsent var server: String?
        var outcome: String
        @NullWhenAbsent var reachable: Bool?
        @NullWhenAbsent var detail: String?
        @NullWhenAbsent var connectionId: String?
        @NullWhenAbsent var status: ConnectionStatus?
        var connection: ConnectionResource?
    }

    init(_ results: [ContextImportResult], kinds: KindCatalog) {
        contexts = results.map { result in
            ContextResult(
                name: result.context, cluster: result.cluster, user: result.user, server: result.server,
                outcome: result.outcome.rawValue, reachable: result.reachable, detail: result.detail,
                connectionId: result.connection?.id.lowercasedString, status: result.connection?.status,
                connection: result.connection.map { ConnectionResource($0, kind: kinds.kind(of: $0)) })
        }
        summary = Dictionary(results.map { ($0.outcome.rawValue, 1) }, uniquingKeysWith: +)
    }
}
