import Foundation
@testable import SwitchboardServer
import Testing

/// The API's hand-written timestamps say what Foundation's ISO 8601 style says, to the
/// millisecond the store keeps. (Foundation cuts `19.871` held as 19.8709999… to `.870`;
/// ours says `.871`, the millisecond that was stored, so the comparison asks Foundation
/// about the middle of that millisecond.)
struct TimestampTests {
    @Test func matchesFoundationsISO8601WithMilliseconds() {
        let style = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        var dates = [0, 0.001, 0.999, 59.5, 951_782_400.123, 1_764_115_200.5, 4_102_444_799.999, -0.5, -86_400.25]
            .map(Date.init(timeIntervalSince1970:))
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<500 {
            dates.append(Date(timeIntervalSince1970: Double(Int64.random(in: -2_000_000_000_000...4_000_000_000_000, using: &generator)) / 1000))
        }
        for date in dates {
            let millisecond = (date.timeIntervalSince1970 * 1000).rounded(.down)
            let middle = Date(timeIntervalSince1970: (millisecond + 0.5) / 1000)
            #expect(JSONBody.timestamp(date) == middle.formatted(style), "\(date.timeIntervalSince1970)")
        }
    }
}
