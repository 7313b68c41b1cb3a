import ConnectionLifecycle
import Foundation
import Testing

/// Ids written and read without Foundation agree with Foundation, and refuse what it refuses.
struct UUIDTextTests {
    @Test func idsSpellAndParseAsFoundationDoes() {
        for id in (0..<500).map({ _ in UUID() }) + [UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)),
                                                    UUID(uuid: (255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255))] {
            #expect(id.lowercasedString == id.uuidString.lowercased())
            #expect(UUID(canonical: id.uuidString) == id)
            #expect(UUID(canonical: id.lowercasedString) == id)
        }
        let refused = ["", "nope", "12345", "00000000-0000-4000-8000-00000000000", "00000000-0000-4000-8000-0000000000000",
                       "00000000_0000-4000-8000-000000000000", "0000000g-0000-4000-8000-000000000000",
                       "{00000000-0000-4000-8000-000000000000}", "00000000-0000-4000-8000-00000000000é",
                       "000000000000-4000-8000-0000-00000000"]
        for text in refused {
            #expect(UUID(canonical: text) == nil, "\(text)")
            #expect(UUID(uuidString: text) == nil, "Foundation refuses \(text) too")
        }
        // Foundation's sscanf skips a space before a pair of digits; an id never has one.
        #expect(UUID(canonical: " 00000000-0000-4000-8000-00000000000") == nil)
    }
}
