import FaceCore

/// A faces-only forget (`facewatch forget --person NAME --faces-only`): which faces of a result go,
/// and taking them out of the record and its labels. Shared by both backends so that they remove
/// the same faces.
package enum FaceForgetting {
    /// The indices of the faces the labels name as `person` (a face that resembles several known
    /// people goes when one of them is `person`). None when the labels do not describe the record's
    /// faces one for one.
    package static func faces(of person: String, in record: LedgerRecord, _ labels: StoredLabels) -> [Int] {
        guard labels.faces.count == record.faces.count else { return [] }
        return labels.faces.indices.filter { labels.faces[$0].contains { $0.name == person } }
    }

    /// Removes the faces at `indices` (ascending) from the record and their labels; returns the
    /// removed faces, in the record's order.
    package static func remove(_ indices: [Int], from record: inout LedgerRecord, _ labels: inout StoredLabels)
        -> [Face]
    {
        var removed: [Face] = []
        for index in indices.reversed() {
            removed.append(record.faces.remove(at: index))
            labels.faces.remove(at: index)
        }
        return removed.reversed()
    }
}
