import Compute
import Foundation
import Labs
import Models
import XCTest

/// The tiny chat model shipped in assets/models/chat (made by `orrery train chat`).
final class ShippedChatModelTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    let dir = root.appendingPathComponent("assets/models/chat").path

    func testShippedModelIsSmallAndAnswersEverySingleDigitSum() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: dir)
        let bytes = try files.reduce(0) {
            $0 + ((try FileManager.default.attributesOfItem(atPath: dir + "/" + $1)[.size] as? Int) ?? 0)
        }
        XCTAssertLessThanOrEqual(bytes, 8 << 20, "shipped model ≤ 8 MB")
        // The chat policy the TUI and `orrery chat` use, greedy: every pair, deterministically.
        var policy = ChatPolicy()
        policy.rememberHistory = false
        let chat = try ChatSession(directory: dir, policy: policy)
        XCTAssertEqual(try chat.reply(to: "what is 3 plus 4?"), "3 plus 4 is 7.")
        var wrong: [String] = []
        for a in 0..<10 {
            for b in 0..<10 {
                let plus = try chat.reply(to: "what is \(a) plus \(b)?")
                if plus != "\(a) plus \(b) is \(a + b)." { wrong.append(plus) }
                let minus = try chat.reply(to: "what is \(a) minus \(b)?")
                if minus != "\(a) minus \(b) is \(a - b)." { wrong.append(minus) }
            }
        }
        XCTAssertEqual(wrong, [], "all 100 additions and 100 subtractions right")
    }
}
