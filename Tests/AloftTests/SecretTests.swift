import Aloft
import Foundation
import Testing

/// Environment variables and secrets of a function's containers, on the embedded control plane and a server.
@Suite("Secrets and environment", .timeLimit(.minutes(3)))
struct SecretTests {
    @Test("environment, app-level and function secrets reach the container in order; a later key wins")
    func embeddedEnvironmentAndSecrets() async throws {
        let app = App(
            "secrets-embedded",
            configuration: AppConfiguration(
                containerExecutable: fixtures.configuration.containerExecutable, containerArguments: [],
                environment: ["FROM_APP": "app", "SHARED": "app"], secrets: [.fromDictionary(["APP_SECRET": "a1"])]))
        let options = FunctionOptions(
            environment: ["SHARED": "function", "PLAIN": "plain"],
            secrets: [.fromDictionary(["TOKEN": "first", "DROPPED": nil]), .fromDictionary(["TOKEN": "second"])])
        let value: Function<String, String?> = app.lookup("environment_value", options: options)
        #expect(try await value.remote("FROM_APP") == "app")
        #expect(try await value.remote("SHARED") == "function")
        #expect(try await value.remote("PLAIN") == "plain")
        #expect(try await value.remote("APP_SECRET") == "a1")
        #expect(try await value.remote("TOKEN") == "second")
        #expect(try await value.remote("DROPPED") == nil)
        // Aloft's own variables are not the function's to set.
        let sneaky: Function<String, String?> = app.lookup(
            "environment_value", options: FunctionOptions(environment: ["ALOFT_CONTAINER_ID": "mine"]))
        #expect(try await sneaky.remote("ALOFT_CONTAINER_ID")?.hasPrefix("ctr-") == true)
    }

    @Test("a named secret on the embedded control plane, or a bad name, fails the call at registration")
    func embeddedNamedSecretAndBadNames() async throws {
        let app = App("secrets-named-embedded", configuration: fixtures.configuration)
        let named: Function<String, String?> = app.lookup(
            "environment_value", options: FunctionOptions(secrets: [.fromName("stripe")]))
        let error = await aloftError { try await named.remote("X") }
        #expect(error?.code == .notFound)
        #expect(error?.message.contains("aloft secret create stripe") == true, "\(error?.message ?? "")")
        let badKey: Function<String, String?> = app.lookup(
            "environment_value", options: FunctionOptions(environment: ["NOT=OK": "x"]))
        #expect(await aloftError { try await badKey.remote("X") }?.code == .invalidArgument)
    }

    @Test("local environment and dotenv files: values, quotes, comments, export, and clear errors")
    func localSources() throws {
        setenv("ALOFT_SECRET_TEST_VALUE", "from-env", 1)
        #expect(
            try Secret.fromLocalEnvironment(["ALOFT_SECRET_TEST_VALUE"])
                == .fromDictionary(["ALOFT_SECRET_TEST_VALUE": "from-env"]))
        #expect(throws: AloftError.self) { try Secret.fromLocalEnvironment(["ALOFT_SECRET_TEST_UNSET"]) }
        let path = temporaryPath("aloft-dotenv")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try """
        # a comment
        export API_KEY=abc123
        QUOTED="line one\\nline \\"two\\""
        SINGLE='as $is'
        SPACED = value with spaces # and a comment

        """.write(toFile: path, atomically: true, encoding: .utf8)
        let secret = try Secret.fromDotenv(path)
        #expect(
            secret
                == .fromDictionary([
                    "API_KEY": "abc123", "QUOTED": "line one\nline \"two\"", "SINGLE": "as $is",
                    "SPACED": "value with spaces",
                ]))
        #expect(!secret.description.contains("abc123"))
        try "NOVALUE\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: AloftError.self) { try Secret.fromDotenv(path) }
        #expect(throws: AloftError.self) { try Secret.fromDotenv(path + ".missing") }
    }

    @Test(
        "on a server, inline secrets reach the container, are sealed in the store, survive kill -9, and are in no log or command line"
    )
    func serverInlineSecrets() async throws {
        let directory = temporaryPath("aloft-server")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let log = directory + ".log"
        defer { try? FileManager.default.removeItem(atPath: log) }
        let secretValue = "s3cr3t-" + UUID().uuidString
        let options = FunctionOptions(
            environment: ["PLAIN_SETTING": "visible"], secrets: [.fromDictionary(["API_KEY": secretValue])])
        let first = try await ServerProcess(
            dataDirectory: directory, arguments: ["--log-level", "trace"], standardError: log)
        let value: Function<String, String?> = first.app("secrets").lookup("environment_value", options: options)
        #expect(try await value.remote("API_KEY") == secretValue)
        #expect(try await value.remote("PLAIN_SETTING") == "visible")
        #expect(!commandLinesOfThisHost().contains { $0.contains(secretValue) })
        // A call whose input runs again after kill -9 gets its container from the stored, sealed registration.
        let later: Function<String, String> = first.app("secrets").lookup("environment_value_later", options: options)
        let pending = try await later.spawn("1.5:API_KEY")
        await first.kill()
        let second = try await ServerProcess(
            dataDirectory: directory, arguments: ["--log-level", "trace"], standardError: log)
        #expect(
            try await FunctionCall<String>(id: pending.id, app: second.app("secrets")).get(timeout: .seconds(60))
                == String(secretValue.reversed()))
        #expect(await second.terminate() == 0)

        let secretBytes = Data(secretValue.utf8)
        for file in try FileManager.default.contentsOfDirectory(atPath: directory) {
            let contents = FileManager.default.contents(atPath: directory + "/" + file) ?? Data()
            #expect(contents.range(of: secretBytes) == nil, "\(file) holds the secret's value")
        }
        let logged = try String(contentsOfFile: log, encoding: .utf8)
        #expect(!logged.contains(secretValue), "the server's log holds the secret's value")
        #expect(logged.contains("registered function"), "the log at trace level is there to search")
        let key = try FileManager.default.attributesOfItem(atPath: directory + "/secret-key")
        #expect((key[.posixPermissions] as? Int) == 0o600)
    }
}

extension SecretTests {
    @Test(
        "named secrets: aloft secret create/list/delete and /v1/secrets, per workspace, required keys, --force for new containers, kill -9"
    )
    func serverNamedSecrets() async throws {
        let directory = temporaryPath("aloft-server")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let log = directory + ".log"
        defer { try? FileManager.default.removeItem(atPath: log) }
        let first = try await ServerProcess(
            dataDirectory: directory, arguments: ["--log-level", "trace"], standardError: log)
        let value = "sk-" + UUID().uuidString
        let dotenv = directory + ".env"
        defer { try? FileManager.default.removeItem(atPath: dotenv) }
        try "EXTRA='from a file'\n".write(toFile: dotenv, atomically: true, encoding: .utf8)
        func aloft(
            _ arguments: [String], server: ServerProcess, token: String? = nil
        ) async throws -> (
            status: Int32, stdout: String, stderr: String
        ) {
            try await runProduct(
                "aloft", arguments: arguments,
                environment: ["ALOFT_API_URL": server.httpURL, "ALOFT_TOKEN": token ?? server.token])
        }
        let created = try await aloft(
            ["secret", "create", "stripe", "API_KEY=\(value)", "--from-dotenv", dotenv], server: first)
        #expect(created.status == 0, "\(created.stderr)")
        #expect(created.stdout.contains("API_KEY, EXTRA") && !created.stdout.contains(value))
        let again = try await aloft(["secret", "create", "stripe", "API_KEY=other"], server: first)
        #expect(again.status != 0 && again.stderr.contains("alreadyExists"), "\(again.stderr)")
        let listed = try await aloft(["secret", "list"], server: first)
        #expect(
            listed.stdout.hasPrefix("stripe\tAPI_KEY,EXTRA\t") && !listed.stdout.contains(value), "\(listed.stdout)")

        let named = FunctionOptions(secrets: [.fromName("stripe", requiredKeys: ["API_KEY"])])
        let read: Function<String, String?> = first.app("named-1").lookup("environment_value", options: named)
        #expect(try await read.remote("API_KEY") == value)
        #expect(try await read.remote("EXTRA") == "from a file")
        let lacking: Function<String, String?> = first.app("named-2").lookup(
            "environment_value", options: FunctionOptions(secrets: [.fromName("stripe", requiredKeys: ["NOPE"])]))
        let missingKey = await aloftError { try await lacking.remote("API_KEY") }
        #expect(missingKey?.code == .invalidArgument && missingKey?.message.contains("NOPE") == true)

        // Another workspace sees none of it.
        let otherToken = try await runProduct(
            "aloft", arguments: ["token", "new", "--workspace", "other", "--data-dir", directory]
        ).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let elsewhere: Function<String, String?> = first.app("named-1", token: otherToken).lookup(
            "environment_value", options: FunctionOptions(secrets: [.fromName("stripe")]))
        #expect(await aloftError { try await elsewhere.remote("API_KEY") }?.code == .notFound)
        #expect(
            (try await first.http("GET", "/v1/secrets", token: otherToken).json["secrets"] as? [Any])?.isEmpty == true)
        #expect(try await first.http("DELETE", "/v1/secrets/stripe", token: otherToken).status == 404)

        // Kept sealed across kill -9; a replacement reaches containers started after it.
        await first.kill()
        let second = try await ServerProcess(
            dataDirectory: directory, arguments: ["--log-level", "trace"], standardError: log)
        let afterRestart: Function<String, String?> = second.app("named-3").lookup("environment_value", options: named)
        #expect(try await afterRestart.remote("API_KEY") == value)
        let replaced = try await aloft(["secret", "create", "stripe", "API_KEY=rotated", "--force"], server: second)
        #expect(replaced.status == 0, "\(replaced.stderr)")
        let fresh: Function<String, String?> = second.app("named-4").lookup("environment_value", options: named)
        #expect(try await fresh.remote("API_KEY") == "rotated")
        #expect(try await fresh.remote("EXTRA") == nil)
        let deleted = try await aloft(["secret", "delete", "stripe"], server: second)
        #expect(deleted.status == 0, "\(deleted.stderr)")
        let gone: Function<String, String?> = second.app("named-5").lookup("environment_value", options: named)
        #expect(await aloftError { try await gone.remote("API_KEY") }?.code == .notFound)
        #expect(await second.terminate() == 0)

        for file in try FileManager.default.contentsOfDirectory(atPath: directory) {
            let contents = FileManager.default.contents(atPath: directory + "/" + file) ?? Data()
            #expect(contents.range(of: Data(value.utf8)) == nil, "\(file) holds the secret's value")
        }
        let logged = try String(contentsOfFile: log, encoding: .utf8)
        #expect(logged.contains("secret stored") && !logged.contains(value) && !logged.contains("rotated"))
    }
}

/// The command lines of every process of this host, from /proc.
func commandLinesOfThisHost() -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { entry in
        guard Int32(entry) != nil, let bytes = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else {
            return nil
        }
        return String(decoding: bytes.map { $0 == 0 ? UInt8(ascii: " ") : $0 }, as: UTF8.self)
    }
}
