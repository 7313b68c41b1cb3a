import ArgumentParser
import Foundation
import SwitchboardServer

extension Serve {
    /// `--advertise-url` and the hub settings, checked: a refusal names the setting, where
    /// its value came from and what to do. Each setting used is added to `sources`.
    func resolveHub(_ settings: ServeSettings,
                    sources: inout [(key: String, value: String, source: String)]) async throws -> (advertiseURL: String?, hub: HubConfiguration?) {
        var advertised: String?
        if let setting = try await settings.string("advertise-url", flag: advertiseUrl) {
            do {
                advertised = try ServerURL.parse(setting.value, setting: "advertise-url")
            } catch {
                throw ValidationError("\(error) (from \(setting.source))")
            }
            sources.append(("advertise-url", setting.value, setting.source))
        }
        let hubSetting = try await settings.string("hub", flag: hub)
        let tokenFile = try await settings.path("hub-token-file", flag: hubTokenFile)
        let caFile = try await settings.path("hub-ca-file", flag: hubCaFile)
        guard let hubSetting else {
            // Half a hub setup is a mistake (a misspelled SWITCHBOARD_HUB, say): say so rather than run without the hub.
            for (name, setting) in [("hub-token-file", tokenFile), ("hub-ca-file", caFile)] {
                if let setting {
                    throw ValidationError("\(name) is set (from \(setting.source)) but hub is not: name the hub with --hub URL (or SWITCHBOARD_HUB), or drop \(name)")
                }
            }
            return (advertised, nil)
        }
        guard let tokenFile else {
            throw ValidationError("hub is set (from \(hubSetting.source)) but hub-token-file is not: write the token the hub issued for this server (switchboard token create, on the hub) into a file and pass --hub-token-file FILE")
        }
        let heartbeat = try await settings.seconds("hub-heartbeat", flag: hubHeartbeat, default: 10)
        guard heartbeat.value > 0, heartbeat.value <= 86_400 else {
            throw ValidationError("hub-heartbeat must be a number of seconds above 0 and at most 86400 (a day), not \(heartbeat.value) (from \(heartbeat.source))")
        }
        let allowHTTP = try await settings.bool("hub-allow-http", flag: hubAllowHttp ? true : nil, default: false)
        let hub: HubConfiguration
        do {
            hub = try HubConfiguration(url: hubSetting.value, tokenFile: tokenFile.value, heartbeat: .seconds(heartbeat.value),
                                       allowHTTP: allowHTTP.value, caFile: caFile?.value)
        } catch {
            let source = switch error.setting {
            case "hub-token-file": tokenFile.source
            case "hub-ca-file": caFile?.source ?? "default"
            case "hub-heartbeat": heartbeat.source
            default: hubSetting.source
            }
            throw ValidationError("\(error) (from \(source))")
        }
        sources.append(("hub", hubSetting.value, hubSetting.source))
        sources.append(("hub-token-file", tokenFile.value, tokenFile.source))
        sources.append(("hub-heartbeat", "\(heartbeat.value)", heartbeat.source))
        sources.append(("hub-allow-http", "\(allowHTTP.value)", allowHTTP.source))
        if let caFile { sources.append(("hub-ca-file", caFile.value, caFile.source)) }
        return (advertised, hub)
    }
}
