import Foundation

/// Fuzz targets for what Switchboard reads from outside: kubeconfig files and the API's JSON
/// request bodies (and query strings). `FUZZ_TARGET` picks one (`kubeconfig` or `json`).
///
/// `scripts/fuzz-inputs` builds this with `-sanitize=fuzzer -DFUZZING`: then `main` hands the
/// command line to libFuzzer, which calls `LLVMFuzzerTestOneInput` for every input it makes.
/// A plain build (what `swift build` makes) replays the files and folders named on the
/// command line instead, e.g. `FUZZ_TARGET=json .build/debug/fuzz-inputs Fuzz/corpus/json`.
/// A target traps (and so fails the run) on anything the server must never do with bad
/// input; `requireThat` says what.
@main
enum FuzzInputs {
    static func main() {
        guard let target = FuzzTarget.selected else {
            FileHandle.standardError.write(Data("set FUZZ_TARGET to one of: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))\n".utf8))
            exit(2)
        }
        #if FUZZING
        _ = target
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, LLVMFuzzerTestOneInput))
        #else
        exit(replay(CommandLine.arguments.dropFirst(), through: target))
        #endif
    }

    /// Runs every file named (folders: every file in them) through `target`.
    static func replay(_ paths: some Sequence<String>, through target: FuzzTarget) -> Int32 {
        var count = 0
        for path in paths {
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
                FileHandle.standardError.write(Data("no such file: \(path)\n".utf8))
                return 1
            }
            let files = isFolder.boolValue
                ? ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted().map { "\(path)/\($0)" }
                : [path]
            for file in files {
                guard let data = FileManager.default.contents(atPath: file) else { continue }
                target.run(data)
                count += 1
            }
        }
        print("\(target.rawValue): replayed \(count) inputs, none crashed")
        return 0
    }
}

enum FuzzTarget: String, CaseIterable, Sendable {
    case kubeconfig
    case json

    static let selected = ProcessInfo.processInfo.environment["FUZZ_TARGET"].flatMap(FuzzTarget.init(rawValue:))

    func run(_ data: Data) {
        #if DEBUG
        switch self {
        case .kubeconfig: KubeconfigTarget.run(data)
        case .json: JSONBodyTarget.run(data)
        }
        #else
        // The targets reach internal code through `@testable import`, which needs a debug
        // build; a release build of the whole package still compiles this stub.
        fatalError("fuzz-inputs checks nothing in a release build: build it in debug")
        #endif
    }
}

/// libFuzzer's entry point: one input.
@_cdecl("LLVMFuzzerTestOneInput")
public func LLVMFuzzerTestOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let target = FuzzTarget.selected else { return -1 }  // -1: not added to the corpus
    target.run(start.map { Data(bytes: $0, count: count) } ?? Data())
    return 0
}

#if FUZZING
/// libFuzzer's driver (compiler-rt, linked by `-sanitize=fuzzer`). SwiftPM links the
/// executable with `main` bound to this module's `@main`, so that calls the driver itself
/// the way libFuzzer's own `main` would.
@_extern(c, "LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt
#endif

/// Traps with `message` unless `condition` holds: a broken promise is a crash libFuzzer
/// reports, with the input that caused it.
func requireThat(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
                 file: StaticString = #fileID, line: UInt = #line) {
    if !condition() { fatalError(message(), file: file, line: line) }
}
