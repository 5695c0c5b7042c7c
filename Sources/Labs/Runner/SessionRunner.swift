// One way to run any lab's session off the UI thread. The runner owns a thread; the session is built
// and stepped on it, and never leaves it (tensors are not Sendable). The UI talks to it through three
// typed channels:
//   - commands (pause, resume, save, stop, and the lab's own) go into a mailbox drained between steps;
//   - the lab's Snapshot is published into a latest-value cell after every step, so a reader never
//     falls behind and never blocks a step;
//   - events that must not be lost (saved, saveFailed, finished, failed) go into a queue the UI drains.
// Any number of runners may run at once (they share the cores).
import Foundation

/// A value one thread publishes and another reads; the reader always sees the newest.
public final class LatestValue<T>: @unchecked Sendable {
    private var value: T
    private let lock = NSLock()
    public init(_ v: T) { value = v }
    public func get() -> T {
        lock.lock()
        defer { lock.unlock() }
        return value
    }
    public func set(_ v: T) {
        lock.lock()
        value = v
        lock.unlock()
    }
    public func update(_ f: (inout T) -> Void) {
        lock.lock()
        f(&value)
        lock.unlock()
    }
}

/// What a lab implements to be run by a `SessionRunner`. Every method is called on the runner's thread.
public protocol SteppedSession: AnyObject {
    associatedtype Command: Sendable
    associatedtype Snapshot: Sendable
    /// Steps done so far.
    var step: Int { get }
    /// True when there is nothing more to do (the run reached its last step).
    var isFinished: Bool { get }
    /// One unit of work (a training step). Throws when the session cannot go on (e.g. it diverged).
    func advance() throws
    /// A lab-specific command (e.g. "draw a sample now").
    func handle(_ command: Command)
    /// Copies what the UI shows into the snapshot (cheap: called after every step, under a lock).
    func publish(into snapshot: inout Snapshot)
    /// Saves the whole session to `directory` (atomically).
    func save(to directory: String) throws
}

public enum RunnerCommand<LabCommand: Sendable>: Sendable {
    case pause, resume, stop
    case save(directory: String)
    case lab(LabCommand)
}

/// Events a UI must see exactly once.
public enum RunnerEvent: Equatable, Sendable {
    case saved(directory: String, step: Int)
    case saveFailed(String)
    case finished(step: Int)
    case failed(String)
}

/// Where a runner stands; read by the UI every frame.
public struct RunnerStatus: Equatable, Sendable {
    public enum Phase: Equatable, Sendable {
        case starting, running, paused, finished
        case failed(String)
        case stopped
    }
    public var phase: Phase = .starting
    public var step = 0
    /// The step last saved, and where (nil: never saved).
    public var savedStep: Int?
    public var savedDirectory: String?
    /// Saves asked for and not completed yet.
    public var pendingSaves = 0
    public var saving: Bool { pendingSaves > 0 }
    /// True when the session has steps that no save holds.
    public var hasUnsavedWork: Bool { step > 0 && savedStep != step && phase != .starting }
    public var isActive: Bool { phase == .running || phase == .paused || phase == .starting }
    public init() {}
}

public final class SessionRunner<Session: SteppedSession>: @unchecked Sendable {
    public let title: String
    public let snapshot: LatestValue<Session.Snapshot>
    public let status = LatestValue(RunnerStatus())
    let mailbox = LatestValue<[RunnerCommand<Session.Command>]>([])
    let events = LatestValue<[RunnerEvent]>([])
    let make: () throws -> Session
    var thread: Thread?

    /// `make` builds the session on the runner's thread (a corpus and a model may take a while).
    /// `savedIn`: the directory the session was loaded from (it counts as saved there).
    /// `loadedIsSaved`: the session comes from somewhere that already holds it (a model shipped in the
    /// binary): its loaded step counts as saved although there is no directory to save into yet.
    public init(
        title: String, initial: Session.Snapshot, savedIn: String? = nil, loadedIsSaved: Bool = false,
        make: @escaping () throws -> Session
    ) {
        self.title = title
        snapshot = LatestValue(initial)
        self.make = make
        self.savedIn = savedIn
        self.loadedIsSaved = loadedIsSaved
    }

    let savedIn: String?
    let loadedIsSaved: Bool

    public func start() {
        let t = Thread { [self] in self.main() }
        t.stackSize = 8 << 20
        t.name = title
        thread = t
        t.start()
    }

    public func send(_ c: RunnerCommand<Session.Command>) {
        if case .save = c { status.update { $0.pendingSaves += 1 } }
        mailbox.update { $0.append(c) }
    }

    /// Stops the session and waits (at most `timeout` seconds) until its thread has left its loop, so
    /// nothing of it runs afterwards (tests that measure memory or time rely on that).
    @discardableResult
    public func stopAndWait(timeout: Double = 60) -> Bool {
        send(.stop)
        guard let thread else { return true }
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if thread.isFinished { return true }
            Thread.sleep(forTimeInterval: 0.005)
        }
        return false
    }

    /// Events since the last call, oldest first.
    public func takeEvents() -> [RunnerEvent] {
        var out: [RunnerEvent] = []
        events.update {
            out = $0
            $0 = []
        }
        return out
    }

    func post(_ e: RunnerEvent) { events.update { $0.append(e) } }

    func main() {
        let session: Session
        do { session = try make() } catch {
            status.update { $0.phase = .failed("\(error)") }
            post(.failed("\(error)"))
            return
        }
        var paused = false
        var announcedFinish = false
        status.update {
            $0.phase = .running
            $0.step = session.step
            if savedIn != nil || loadedIsSaved {
                $0.savedStep = session.step
                $0.savedDirectory = savedIn
            }
        }
        snapshot.update { session.publish(into: &$0) }
        while true {
            var commands: [RunnerCommand<Session.Command>] = []
            mailbox.update {
                commands = $0
                $0 = []
            }
            for c in commands {
                switch c {
                case .pause: paused = true
                case .resume: paused = false
                case .stop:
                    status.update { $0.phase = .stopped }
                    return
                case .save(let dir):
                    do {
                        try session.save(to: dir)
                        status.update {
                            $0.savedStep = session.step
                            $0.savedDirectory = dir
                            $0.pendingSaves -= 1
                            $0.step = session.step  // a save may go back to the last good state
                        }
                        snapshot.update { session.publish(into: &$0) }
                        if !session.isFinished && announcedFinish {
                            announcedFinish = false
                            status.update { $0.phase = .running }
                        }
                        post(.saved(directory: dir, step: session.step))
                    } catch {
                        status.update { $0.pendingSaves -= 1 }
                        post(.saveFailed("\(error)"))
                    }
                case .lab(let command):
                    let before = session.step
                    session.handle(command)
                    if session.step < before {
                        // The lab started over (new random weights): a new run, not finished and not
                        // saved. Its save goes to a new folder, not over the old run's.
                        announcedFinish = false
                        status.update {
                            $0.step = session.step
                            if $0.phase == .finished { $0.phase = .running }
                            $0.savedStep = nil
                            $0.savedDirectory = nil
                        }
                    }
                    snapshot.update { session.publish(into: &$0) }
                }
            }
            if case .failed = status.get().phase {
                Thread.sleep(forTimeInterval: 0.02)
                continue
            }
            if session.isFinished {
                if !announcedFinish {
                    announcedFinish = true
                    status.update {
                        $0.phase = .finished
                        $0.step = session.step
                    }
                    post(.finished(step: session.step))
                }
                Thread.sleep(forTimeInterval: 0.02)
                continue
            }
            if paused {
                status.update { $0.phase = .paused }
                Thread.sleep(forTimeInterval: 0.02)
                continue
            }
            do {
                try session.advance()
                status.update {
                    $0.phase = .running
                    $0.step = session.step
                }
            } catch {
                status.update {
                    $0.phase = .failed("\(error)")
                    $0.step = session.step
                }
                post(.failed("\(error)"))
            }
            snapshot.update { session.publish(into: &$0) }
        }
    }
}

/// What the app needs of any lab's runner, whatever its session type: to show its state, collect its
/// events, save it and stop it.
public protocol ManagedRunner: AnyObject {
    var title: String { get }
    var status: LatestValue<RunnerStatus> { get }
    func start()
    func takeEvents() -> [RunnerEvent]
    func requestSave(to directory: String)
    func stop()
}

extension SessionRunner: ManagedRunner {
    public func requestSave(to directory: String) { send(.save(directory: directory)) }
    public func stop() { send(.stop) }
}
