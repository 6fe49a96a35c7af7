import FaceTestSupport
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A TCP forwarder to the test cluster's Unix socket that, once armed, cuts the connection of the
/// first commit that makes a record final (`PostgresLedger.finish`) right after passing it on: the
/// server commits, the daemon never hears so. That commit is either a transaction's COMMIT after its
/// statement starting `WITH final AS`, or the execution of the prepared statement that commits alone
/// (`facewatch.FinishOnce`; its preparation, which carries its text `WITH target AS`, passes). A
/// small Python program (python3 is on every machine that runs the tests), one per test.
final class CuttingProxy {
    private let process = Process()
    private let directory: String
    /// The TCP port it listens on (127.0.0.1).
    let port: Int

    init(socket: String) throws {
        directory = NSTemporaryDirectory() + "fw-proxy-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let script = directory + "/proxy.py"
        try Self.program.write(toFile: script, atomically: true, encoding: .utf8)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [script, socket, directory]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let portFile = directory + "/port"
        guard eventuallyBlocking(timeout: .seconds(30), { FileManager.default.fileExists(atPath: portFile) }),
            let text = try? String(contentsOfFile: portFile, encoding: .utf8), let port = Int(text)
        else {
            kill(process.processIdentifier, SIGKILL)
            throw ProxyFailure()
        }
        self.port = port
    }

    /// From now on, the next final commit is cut.
    func arm() { FileManager.default.createFile(atPath: directory + "/armed", contents: nil) }

    /// How many COMMITs it cut (0 or 1).
    var cuts: Int { FileManager.default.fileExists(atPath: directory + "/cut") ? 1 : 0 }

    func stop() {
        if process.isRunning {
            // SIGKILL: the test process blocks SIGTERM in some threads, and a child started with
            // `Process` inherits that mask.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    struct ProxyFailure: Error {}

    private static let program = #"""
        import os, socket, sys, threading

        target, state = sys.argv[1], sys.argv[2]
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        with open(state + "/port.tmp", "w") as f:
            f.write(str(listener.getsockname()[1]))
        os.rename(state + "/port.tmp", state + "/port")
        lock = threading.Lock()
        done = [False]

        def close(*sockets):
            for s in sockets:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

        def serve(client):
            server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            server.connect(target)
            held = [False]

            def replies():
                try:
                    while True:
                        data = server.recv(65536)
                        if not data or held[0]:
                            break
                        client.sendall(data)
                except OSError:
                    pass

            threading.Thread(target=replies, daemon=True).start()
            finishing = False
            try:
                while True:
                    data = client.recv(65536)
                    if not data:
                        break
                    if b"WITH final AS" in data:
                        finishing = True
                    alone = b"facewatch.FinishOnce" in data and b"WITH target AS" not in data
                    if (alone or (finishing and b"COMMIT" in data)) and os.path.exists(state + "/armed"):
                        with lock:
                            cut = not done[0]
                            done[0] = True
                        if cut:
                            held[0] = True
                            server.sendall(data)
                            # The server commits; its reply is never passed on.
                            threading.Event().wait(1.0)
                            open(state + "/cut", "w").close()
                            break
                    if b"COMMIT" in data:
                        finishing = False
                    server.sendall(data)
            except OSError:
                pass
            close(client, server)

        while True:
            connection, _ = listener.accept()
            threading.Thread(target=serve, args=(connection,), daemon=True).start()
        """#
}
