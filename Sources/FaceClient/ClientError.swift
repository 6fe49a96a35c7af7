/// Why a client command (`submit`, `result`, `stats`, `average`, `status`) cannot do what it was
/// asked, in one line for a person.
public struct ClientError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong.
    public var message: String

    /// An error saying `message`.
    public init(_ message: String) { self.message = message }

    public var description: String { message }
}
