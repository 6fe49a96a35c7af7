import FaceEncoding
import FaceTestSupport
import Foundation
import Testing

/// What `make install` (and so the Debian package) adds for people at a shell: the man page, made
/// from the commands' own help by swift-argument-parser's generate-manual, renders with `man -l`
/// without a warning and covers every command; each completion script loads in its shell (bash,
/// zsh, fish: `make deps` installs them) and completes a subcommand.
@Suite(
    .tags(.packaging),
    .serialized, .timeLimit(.minutes(10)),
    .enabled(
        if: ModelFile.all.allSatisfy {
            FileManager.default.fileExists(atPath: ServiceTestSupport.repository + "/models/" + $0)
        }, "no models in <repo>/models: run `make models`"))
struct ManualAndCompletionTests {
    /// Stages `make install PREFIX=/usr` into a temporary directory, runs `body` on it, removes it.
    func withStagedInstall(_ body: (String) async throws -> Void) async throws {
        let binary = try ServiceTestSupport.builtBinary()
        let scratch = try ServiceTestSupport.TemporaryDirectory()
        // Removed when released: kept alive until the body is done.
        defer { withExtendedLifetime(scratch) {} }
        let stage = scratch.path + "/stage"
        let install = try await InstallTests.make(["install", "PREFIX=/usr", "DESTDIR=\(stage)", "BIN=\(binary)"])
        try #require(install.status == 0, "make install failed:\n\(install.stdout)\(install.stderr)")
        try await body(stage)
    }

    func shell(_ program: String, _ script: String) async throws -> ProgramOutput {
        let path = try #require(programPath(program), "\(program) is not installed: make deps installs it")
        // A home of its own: fish writes its history and variables there, and a shared one (such as
        // /tmp, where another user's run may have made ~/.local first) can refuse this user.
        let home = NSTemporaryDirectory() + "/fw-shell-home-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: home) }
        return try await runProgram(
            path, ["-c", script], environment: .exactly(["PATH": "/usr/bin:/bin", "HOME": home]))
    }

    @Test func theManPageRendersAndEachCompletionLoadsInItsShell() async throws {
        try await withStagedInstall { stage in
            try await manPageRendersWithoutWarnings(stage)
            try await bashLoadsItsCompletionAndCompletesACommand(stage)
            try await zshLoadsItsCompletion(stage)
            try await fishLoadsItsCompletionAndCompletesACommand(stage)
        }
    }

    func manPageRendersWithoutWarnings(_ stage: String) async throws {
        let page = stage + "/usr/share/man/man1/facewatch.1.gz"
        let man = try await runProgram(
            "/usr/bin/man", ["--warnings", "-l", page],
            environment: .exactly(["PATH": "/usr/bin:/bin", "MANWIDTH": "100", "MANPAGER": "cat", "LANG": "C.UTF-8"]))
        #expect(man.status == 0, "\(man.stderr)")
        #expect(man.stderr.isEmpty, "man -l warned:\n\(man.stderr)")
        // Without a terminal, man marks bold and underlined text by overstriking: `c\bc`, `_\bc`.
        let text = man.stdout.replacing(/.\x{08}/, with: "")
        let help = try await runProgram(try ServiceTestSupport.builtBinary(), ["--help"])
        let commands = help.stdout.components(separatedBy: "SUBCOMMANDS:").last!.components(separatedBy: "\n\n")[0]
            .split(separator: "\n")
            .compactMap { line in
                // "  name   abstract"; wrapped abstracts continue further in.
                line.hasPrefix("  ") && line.dropFirst(2).first != " "
                    ? line.split(separator: " ").first.map(String.init) : nil
            }
        #expect(commands.contains("annotate") && commands.contains("report"), "\(commands)")
        for command in commands {
            // An entry starts at the list's indent; a long name stands on its own line.
            #expect(
                text.contains("\n     \(command) ") || text.contains("\n     \(command)\n"), "\(command) has its entry")
        }
        #expect(text.contains("--since"), "an option of report is described")
    }

    func bashLoadsItsCompletionAndCompletesACommand(_ stage: String) async throws {
        let run = try await shell(
            "bash",
            """
            source \(stage)/usr/share/bash-completion/completions/facewatch || exit 1
            complete -p facewatch || exit 1
            COMP_WORDS=(facewatch anno); COMP_CWORD=1; COMP_LINE="facewatch anno"; COMP_POINT=14
            _facewatch facewatch anno facewatch
            echo "completions: ${COMPREPLY[*]}"
            """)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("completions: annotate"), "\(run.stdout)")
        #expect(run.stderr.isEmpty, "\(run.stderr)")
    }

    func zshLoadsItsCompletion(_ stage: String) async throws {
        let run = try await shell(
            "zsh",
            """
            autoload -U compinit && compinit -u -D || exit 1
            source \(stage)/usr/share/zsh/vendor-completions/_facewatch || exit 1
            print -r -- "registered: ${_comps[facewatch]}"
            """)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("registered: _facewatch"), "\(run.stdout)")
        #expect(run.stderr.isEmpty, "\(run.stderr)")
    }

    func fishLoadsItsCompletionAndCompletesACommand(_ stage: String) async throws {
        let run = try await shell(
            "fish",
            """
            source \(stage)/usr/share/fish/vendor_completions.d/facewatch.fish; or exit 1
            complete -C"facewatch anno"
            """)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.hasPrefix("annotate\t"), "\(run.stdout)")
        #expect(run.stderr.isEmpty, "\(run.stderr)")
    }
}
