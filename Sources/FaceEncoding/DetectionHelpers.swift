import CDlibFace

/// Spare threads that engines may borrow while they detect faces: an `EncoderPool` keeps the number of
/// its idle workers here, so a lone image on an idle pool is scanned by several threads (its pyramid
/// levels split into strips), while a busy pool runs one thread per image. Only the `hog` detector
/// borrows; results never depend on how many threads it got.
public final class DetectionHelpers: @unchecked Sendable {
    // @unchecked Sendable: the C budget is an atomic counter, safe to use from any thread; the pointer
    // itself never changes and is freed only in deinit, when no engine holds this object any more.
    let handle: OpaquePointer

    /// A budget of `available` spare threads, or nil when memory ran out.
    public init?(available: Int) {
        guard let handle = fwd_helper_budget_create(Int32(clamping: available)) else { return nil }
        self.handle = handle
    }

    /// Adds `delta` spare threads (negative: removes them).
    public func add(_ delta: Int) {
        fwd_helper_budget_add(handle, Int32(clamping: delta))
    }

    deinit {
        fwd_helper_budget_free(handle)
    }
}
