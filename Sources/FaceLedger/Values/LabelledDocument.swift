import FaceCore

extension LedgerRecord {
    /// Whether the record's document carries `matches` (a completed record with faces).
    public var carriesMatches: Bool { status == .completed && !faces.isEmpty }

    /// The record's document with each face's matches from `labels` (the stored labels of the
    /// record); without labels, or labels of another face count, the document has no matches.
    public func labelledDocument(_ labels: StoredLabels?) -> ResultDocument {
        var document = resultDocument()
        if let labels, labels.faces.count == document.faces.count {
            for index in document.faces.indices { document.faces[index].matches = labels.faces[index] }
        }
        return document
    }
}
