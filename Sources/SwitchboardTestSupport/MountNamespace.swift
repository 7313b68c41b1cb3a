import Foundation

/// Runs the server in a mount namespace of its own, with a file system mounted for it only
/// (a small tmpfs to fill up): no change to the machine, and gone with the process. Needs
/// root (or CAP_SYS_ADMIN) and `unshare` from util-linux.
public enum MountNamespace {
    /// A `ServerProcess` launcher that mounts a tmpfs of `size` (e.g. "8m") on `path` (an
    /// existing folder) and then execs the server. The test reaches the files through
    /// `/proc/<server pid>/root<path>`.
    public static func tmpfsLauncher(on path: String, size: String) -> [String] {
        ["unshare", "--mount", "--propagation", "private", "--",
         "sh", "-c", #"mount -t tmpfs -o size=\#(size),mode=0755 tmpfs "$0" && exec "$@""#, path]
    }

    /// Whether a mount namespace with a tmpfs can be made here. Tests that need one fail
    /// (not skip) without it when `CI` is set.
    public static func isAvailable() -> Bool {
        guard let folder = try? TemporaryDirectory(prefix: "switchboard-namespace-check") else { return false }
        defer { folder.remove() }
        let probe = tmpfsLauncher(on: folder.path, size: "1m") + ["true"]
        guard let output = try? Program.run(probe[0], Array(probe.dropFirst())) else { return false }
        return output.status == 0
    }

    /// The path of `path` as the process `pid` sees it (inside its mount namespace).
    public static func path(_ path: String, seenBy pid: Int32) -> String {
        "/proc/\(pid)/root" + path
    }
}
