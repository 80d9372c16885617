import AloftControlPlane
import Foundation
import Testing

extension StoreConformanceTests {
    @Test(
        "schedules are stored with their last tick (or none), replaced by function, and forgotten by app",
        arguments: Kind.available)
    func schedules(kind: Kind) async throws {
        try await withStore(kind) { subject in
            let at = Date(timeIntervalSince1970: 1_800_000_000.25)
            let fresh = StoredSchedule(workspace: "alpha", appName: "app", function: "hourly", anchor: at)
            let ticked = StoredSchedule(
                workspace: "alpha", appName: "app", function: "minutely", anchor: at, lastTick: at + 60,
                lastCallID: "fc-1")
            let other = StoredSchedule(workspace: "beta", appName: "app", function: "minutely", anchor: at)
            let gone = StoredSchedule(workspace: "alpha", appName: "old", function: "daily", anchor: at)
            try await subject.store.apply([
                .putSchedule(ticked), .putSchedule(fresh), .putSchedule(other), .putSchedule(gone),
            ])
            var later = ticked
            later.lastTick = at + 120
            later.lastCallID = "fc-2"
            try await subject.store.apply([.putSchedule(later), .deleteSchedules(workspace: "alpha", appName: "old")])
            let loaded = try await subject.reopen().load().schedules
            #expect(loaded == [fresh, later, other])
        }
    }
}
