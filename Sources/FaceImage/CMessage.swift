extension String {
    /// The text a C function wrote into `buffer` (NUL-terminated, possibly not valid UTF-8, which is
    /// repaired): how the codec and the engine report what went wrong.
    package init(cMessage buffer: [CChar]) {
        self.init(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
