import Mustache

// The dashboard's pages, as Mustache templates (swift-mustache): server-rendered HTML, a little plain JavaScript
// for the live parts (EventSource), no build step. `{{x}}` escapes HTML; `{{{x}}}` is only used for fragments this
// code rendered itself.

enum DashboardTemplates {
    static let library: MustacheLibrary = {
        var library = MustacheLibrary()
        let templates = [
            "layout": layout, "login": login, "home": home, "homeTables": homeTables, "app": app,
            "endpoints": endpoints, "functions": functions, "calls": calls, "call": call, "callSummary": callSummary,
        ]
        for (name, text) in templates {
            do { try library.register(text, named: name) } catch { fatalError("dashboard template \(name): \(error)") }
        }
        return library
    }()

    static let layout = """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><title>{{title}} · Aloft</title>
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <style>
        body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1d2330; background: #f6f7f9; }
        header { background: #1d2330; color: #fff; padding: 10px 24px; display: flex; gap: 24px; align-items: center; }
        header a { color: #fff; text-decoration: none; font-weight: 600; }
        header form { margin-left: auto; }
        main { padding: 16px 24px; }
        h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; }
        table { border-collapse: collapse; background: #fff; width: 100%; }
        th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid #e3e6ea; vertical-align: top; }
        th { background: #eef0f3; font-weight: 600; }
        .failed, .error { color: #b3261e; } .succeeded { color: #1b7f3b; } .running { color: #8a5a00; }
        .muted { color: #6b7280; } code, .log { font-family: ui-monospace, monospace; font-size: 12px; }
        #log { background: #10131a; color: #d7dae0; padding: 8px; height: 320px; overflow-y: auto; white-space: pre-wrap; }
        #log .stderr { color: #ff9b8f; }
        </style></head>
        <body><header><a href="/dashboard">Aloft</a><span class="muted">workspace {{workspace}}</span>
        <form method="post" action="/dashboard/logout"><button>Log out</button></form></header>
        <main>{{{body}}}</main></body></html>
        """

    static let login = """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><title>Log in · Aloft</title></head>
        <body style="font: 14px system-ui, sans-serif; margin: 40px">
        <h1>Aloft</h1>
        {{#error}}<p class="error" style="color: #b3261e">{{error}}</p>{{/error}}
        <form method="post" action="/dashboard/login">
        <label>Token <input type="password" name="token" id="token" size="60" autofocus></label>
        <button type="submit" id="login">Log in</button>
        </form>
        <p>A client token of your workspace (<code>aloft token new</code>; the server's first is in its data directory's
        <code>client-token</code>).</p>
        </body></html>
        """

    // The home page's tables are re-rendered every 2 s over `/dashboard/live`.
    static let home = """
        <div id="home">{{{tables}}}</div>
        <script>
        const events = new EventSource("/dashboard/live");
        events.addEventListener("home", (event) => { document.getElementById("home").innerHTML = event.data; });
        </script>
        """

    static let homeTables = """
        <h1>Apps</h1>
        <table id="apps"><tr><th>app</th><th>live version</th><th>versions</th><th>last deployed</th></tr>
        {{#apps}}<tr><td><a href="/dashboard/apps/{{name}}">{{name}}</a></td><td>{{live}}</td><td>{{versions}}</td>
        <td>{{deployed}}</td></tr>{{/apps}}
        {{^apps}}<tr><td colspan="4" class="muted">No deployed app yet: <code>aloft deploy PRODUCT</code>.</td></tr>{{/apps}}
        </table>
        <h2>Worker hosts</h2>
        <table><tr><th>host</th><th>containers</th><th>cores</th><th>memory (MiB)</th></tr>
        {{#workers}}<tr><td>{{name}}</td><td>{{containers}}</td><td>{{cpus}}</td><td>{{memoryMiB}}</td></tr>{{/workers}}
        {{^workers}}<tr><td colspan="4" class="muted">None: containers run on the server's host.</td></tr>{{/workers}}
        </table>
        <h2>Schedules</h2>
        <table><tr><th>app</th><th>function</th><th>schedule</th><th>next run</th><th>last run</th><th>last status</th></tr>
        {{#schedules}}<tr><td>{{app}}</td><td>{{function}}</td><td>{{schedule}}</td><td>{{next}}</td><td>{{last}}</td>
        <td>{{status}}</td></tr>{{/schedules}}
        {{^schedules}}<tr><td colspan="6" class="muted">None.</td></tr>{{/schedules}}
        </table>
        <h2>Latest calls</h2>
        {{{calls}}}
        """

    static let app = """
        <h1>{{app}}</h1>
        <p class="muted">{{versionLine}}</p>
        <h2>Functions</h2>
        <div id="functions">{{{functions}}}</div>
        {{{endpoints}}}
        <h2>Calls</h2>
        <div id="calls">{{{calls}}}</div>
        <h2>Logs</h2>
        <form method="get" id="filters">
        <label>function <input name="function" value="{{function}}"></label>
        <label>call <input name="call" value="{{call}}"></label>
        <button type="submit">Filter</button> <span class="muted" id="status">connecting…</span>
        </form>
        <div id="log" class="log"></div>
        <script>
        const log = document.getElementById("log");
        const status = document.getElementById("status");
        const events = new EventSource(location.pathname + "/live" + location.search);
        events.onopen = () => { status.textContent = "live"; };
        events.onerror = () => { status.textContent = "reconnecting…"; };
        for (const part of ["functions", "calls"]) {
          events.addEventListener(part, (event) => { document.getElementById(part).innerHTML = event.data; });
        }
        events.addEventListener("log", (event) => {
          const line = JSON.parse(event.data);
          const row = document.createElement("div");
          row.className = "line " + line.stream;
          row.textContent = line.time.slice(11, 23) + " " + line.function + " " + line.container +
            (line.call_id ? " " + line.call_id : "") + "  " + line.text;
          const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
          log.appendChild(row);
          while (log.childNodes.length > 2000) { log.removeChild(log.firstChild); }
          if (atEnd) { log.scrollTop = log.scrollHeight; }
        });
        </script>
        """

    static let endpoints = """
        {{#any}}<h2>Web endpoints</h2>
        <table id="endpoints"><tr><th>endpoint</th><th>method</th><th>access</th><th>URL</th></tr>
        {{#endpoints}}<tr data-endpoint="{{label}}"><td>{{label}}</td><td>{{method}}</td><td>{{access}}</td>
        <td>{{#url}}<a href="{{url}}"><code>{{url}}</code></a>{{/url}}</td></tr>{{/endpoints}}
        </table>{{/any}}
        """

    static let functions = """
        <table><tr><th>function</th><th>backlog</th><th>running</th><th>containers</th><th>inputs/min</th>
        <th>failures/min</th><th>p50</th><th>p99</th></tr>
        {{#functions}}<tr data-function="{{name}}"><td>{{name}}{{#stopped}} <span class="muted">(stopped)</span>{{/stopped}}
        {{#unplaceable}}<div class="error">{{unplaceable}}</div>{{/unplaceable}}</td>
        <td>{{backlog}}</td><td>{{running}}</td><td>{{containerCount}}</td><td>{{perMinute}}</td>
        <td>{{failuresPerMinute}}</td><td>{{p50}}</td><td>{{p99}}</td></tr>
        {{#containers}}<tr class="container muted"><td colspan="8">&nbsp;&nbsp;<code>{{id}}</code> on {{host}}, {{state}},
        up {{uptime}}, {{served}} inputs served, {{running}} running{{#usage}}; {{usage}}{{/usage}}</td></tr>{{/containers}}{{/functions}}
        {{^any}}<tr><td colspan="8" class="muted">No function has run yet.</td></tr>{{/any}}
        {{#idle}}<tr><td colspan="8" class="muted">Idle (no container, no input in five minutes): {{idle}}</td></tr>
        {{/idle}}</table>
        """

    static let calls = """
        <table><tr><th>call</th><th>function</th><th>kind</th><th>status</th><th>inputs</th><th>failed</th>
        <th>retries</th><th>duration</th><th>started</th><th>error</th></tr>
        {{#calls}}<tr data-call="{{id}}"><td><a href="/dashboard/calls/{{id}}"><code>{{id}}</code></a></td>
        <td>{{app}}.{{function}}</td><td>{{kind}}</td><td class="{{status}}">{{status}}</td>
        <td>{{done}}/{{inputs}}</td><td>{{failed}}</td><td>{{retries}}</td><td>{{duration}}</td><td>{{started}}</td>
        <td class="error">{{error}}</td></tr>{{/calls}}
        {{^calls}}<tr><td colspan="10" class="muted">No calls yet.</td></tr>{{/calls}}
        </table>
        """

    // A running call's page follows it over `/dashboard/calls/ID/live?after=N`: its summary when it changes, its
    // containers' new lines, and `done` once it has finished.
    static let call = """
        <h1>Call <code>{{id}}</code></h1>
        <div id="summary">{{{summary}}}</div>
        <h2>Its containers' output</h2>
        <div id="log" class="log">{{#lines}}<div class="line {{stream}}">{{time}} {{container}}  {{text}}</div>{{/lines}}
        {{^lines}}<span class="muted" id="no-lines">Nothing printed while its inputs ran.</span>{{/lines}}</div>
        {{#live}}<script>
        const log = document.getElementById("log");
        const events = new EventSource(location.pathname + "/live?after={{after}}");
        events.addEventListener("summary", (event) => { document.getElementById("summary").innerHTML = event.data; });
        events.addEventListener("log", (event) => {
          const line = JSON.parse(event.data);
          document.getElementById("no-lines")?.remove();
          const row = document.createElement("div");
          row.className = "line " + line.stream;
          row.textContent = line.time.slice(0, 19) + " " + line.container + "  " + line.text;
          log.appendChild(row);
        });
        events.addEventListener("done", () => { events.close(); });
        </script>{{/live}}
        """

    static let callSummary = """
        <table>
        <tr><th>function</th><td><a href="/dashboard/apps/{{app}}">{{app}}</a>.{{function}}</td></tr>
        <tr><th>kind</th><td>{{kind}}</td></tr>
        <tr><th>status</th><td class="{{status}}" id="call-status">{{status}}</td></tr>
        <tr><th>inputs</th><td>{{done}}/{{inputs}} done, {{failed}} failed, {{cancelled}} cancelled, {{retries}} retries</td></tr>
        <tr><th>duration</th><td>{{duration}}</td></tr>
        <tr><th>started</th><td>{{started}}</td></tr>
        {{#error}}<tr><th>error</th><td class="error" id="call-error"><code>{{error}}</code></td></tr>{{/error}}
        {{#result}}<tr><th>result</th><td><code id="call-result">{{result}}</code></td></tr>{{/result}}
        </table>
        """
}
