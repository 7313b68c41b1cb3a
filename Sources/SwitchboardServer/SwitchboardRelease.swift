/// Which release this is and how it was built: `switchboard version`, `GET /api/system/server`
/// and the hub link all say the same.
public enum SwitchboardRelease {
    /// The release; the OpenAPI document's `info.version` is the same number.
    public static let version = "0.1.0"

    /// SwiftPM cannot stamp the git commit into a binary without a build plugin, so the
    /// build says that it carries none rather than guess one.
    public static let build = "development build"
}
