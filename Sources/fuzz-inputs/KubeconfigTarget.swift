#if DEBUG  // `@testable import` needs a debug build (see FuzzTarget.run).
import Foundation
@testable import SwitchboardDrivers

/// A kubeconfig as an upload brings it, through everything an import does before any
/// network use: parse, resolve every context, refuse what an upload may not do, write each
/// context out as the self-contained kubeconfig its credential stores, and fingerprint it.
/// Only `.uploaded`: an operator's file may name files to read and plugins to run.
enum KubeconfigTarget {
    static func run(_ data: Data) {
        let text = String(decoding: data, as: UTF8.self)
        guard let config = try? Kubeconfig.parse(text) else { return }
        _ = try? config.resolve(context: nil)
        for named in config.contexts { _ = try? config.resolve(context: named.name) }

        guard let prepared = try? KubeconfigImport.contexts(in: text, origin: .uploaded) else { return }
        requireThat(prepared.count == config.contexts.count, "the import dropped or added a context")
        for context in prepared {
            guard let secret = context.secret else {
                requireThat(context.problem != nil, "context '\(context.context)' has neither a secret nor a problem")
                continue
            }
            requireThat(context.problem == nil, "context '\(context.context)' has both a secret and a problem")
            requireThat(context.fingerprint != nil, "context '\(context.context)' is ready but has no fingerprint")
            checkStored(secret, of: context)
        }
    }

    /// The credential a context becomes holds a kubeconfig of its own. Later the driver reads
    /// it to connect and discovery reads it to find the connection again, so it must parse,
    /// name the same cluster and user (same fingerprint), and import to itself.
    private static func checkStored(_ secret: SecretValues, of context: KubeconfigContextImport) {
        guard let stored = secret["kubeconfig"] else {
            return requireThat(false, "context '\(context.context)': the secret holds no kubeconfig")
        }
        let reread: Kubeconfig
        do {
            reread = try Kubeconfig.parse(stored)
        } catch {
            return requireThat(false, "context '\(context.context)': the stored kubeconfig does not parse (\(error)):\n\(stored)")
        }
        requireThat((try? reread.resolve(context: secret["context"])) != nil,
                    "context '\(context.context)': the stored kubeconfig does not resolve:\n\(stored)")
        let fingerprint = KubernetesIdentity.fingerprint(from: secret)
        requireThat(fingerprint == context.fingerprint,
                    "context '\(context.context)': fingerprint \(context.fingerprint ?? "nil") on import, \(fingerprint ?? "nil") from the stored kubeconfig:\n\(stored)")
        let again = try? KubeconfigImport.contexts(in: stored, origin: .uploaded)
        requireThat(again?.count == 1 && again?.first?.secret == secret && again?.first?.fingerprint == context.fingerprint,
                    "context '\(context.context)': importing the stored kubeconfig gives something else:\n\(stored)")
    }
}
#endif
