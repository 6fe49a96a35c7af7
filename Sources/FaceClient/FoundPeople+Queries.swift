import FaceRoot

extension Queries {
    /// The people found among the stored faces, with this root's `cluster_*` settings.
    ///
    /// - Throws: `ClientError` when the ledger cannot be read.
    public func foundPeople() throws(ClientError) -> FoundPeople {
        do {
            return try FoundPeople.of(ledger, filter: PeopleFilter(configuration))
        } catch {
            throw ClientError("cannot read the ledger: \(error)")
        }
    }
}
