/// Runs work for many elements a few at a time: checks wait on slow targets, but must not
/// flood them (or the server) all at once.
public enum BoundedConcurrency {
    /// `body` for every element, at most `limit` at once; results in the elements' order.
    public static func map<Element: Sendable, Result: Sendable>(
        _ elements: [Element], limit: Int = 8, _ body: @escaping @Sendable (Element) async -> Result
    ) async -> [Result] {
        var results = [Result?](repeating: nil, count: elements.count)
        await withTaskGroup(of: (Int, Result).self) { group in
            var next = 0
            func startNext() {
                guard next < elements.count else { return }
                let index = next
                let element = elements[index]
                next += 1
                group.addTask { (index, await body(element)) }
            }
            for _ in 0..<max(1, limit) { startNext() }
            while let (index, result) = await group.next() {
                results[index] = result
                startNext()
            }
        }
        return results.compactMap { $0 }
    }
}
