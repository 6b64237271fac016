"""nginx.conf translation (parser, each rule) and the ui launcher."""

from __future__ import annotations


import pytest

from harborlab.programs import LaunchError, PodLayout, nginx_launch, ui_launch
from harborlab.programs.nginxconf import ConfSyntaxError, Rules, dump, first_listen_port, parse, translate
from harborlab.programs.nginxconf import translate_listen

HARBOR_NGINX = """\
worker_processes auto;
events { worker_connections 1024; use epoll; multi_accept on; }
http {
  tcp_nodelay on;
  # the two upstreams
  upstream registry { server registry:5000; }
  upstream ui { server ui:80; }
  server {
    listen 80;
    server_name harbor.example.com;
    client_max_body_size 0;
    chunked_transfer_encoding on;
    location / { proxy_pass http://ui/; proxy_set_header Host $host; proxy_buffering off; }
    location /v1/ { return 404; }
    location /v2/ { proxy_pass http://registry/v2/; }
    location /service/ { proxy_pass http://ui/service/; }
  }
}
"""


def rules(endpoints=None, **kw) -> Rules:
    return Rules(pod_ip="127.77.0.9", conf_dir="/etc/nginx", host_path=lambda p: "/host" + p,
                 endpoints=endpoints or {}, runtime="/rt", **kw)


def directives(text: str) -> list:
    out = []

    def walk(block, ctx):
        for d in block:
            out.append((ctx, d.name, d.args))
            if d.block is not None:
                walk(d.block, d.name)
    walk(parse(text), "main")
    return out


@pytest.mark.parametrize(
    ("args", "expected"),
    [(["80"], ["127.77.0.9:80"]), (["*:8080", "default_server"], ["127.77.0.9:8080", "default_server"]),
     (["0.0.0.0:443", "ssl"], ["127.77.0.9:443", "ssl"]), (["[::]:80", "ipv6only=on"], None),
     (["localhost"], ["127.77.0.9:80"]), (["unix:/run/x.sock"], ["unix:/run/x.sock"])],
    ids=["port", "wildcard-flags", "any-ssl", "ipv6-dropped", "host-no-port", "unix-kept"],
)
def test_translate_listen(args, expected):
    assert translate_listen(args, "127.77.0.9") == expected


def test_parse_dump_round_trip_keeps_meaning():
    text = 'log_format main \'"$request" x\';\nlocation ~ ^/v2/\\d { return 200 "a;b{}"; }\n'
    tree = parse(text)
    # Escapes are kept as written, so the text nginx reads is stable from the first dump on.
    assert dump(parse(dump(tree))) == dump(tree)
    assert [d.name for d in parse(dump(tree))] == ["log_format", "location"]
    assert tree[0].args == ["main", '"$request" x'] and tree[1].block[0].args == ["200", "a;b{}"]


@pytest.mark.parametrize("text", ["a b", "a {", "}", "a 'x;", "{ }", ";"],
                         ids=["no-semicolon", "unclosed-block", "stray-brace", "unterminated-quote",
                              "nameless-block", "empty-directive"])
def test_parse_errors(text):
    with pytest.raises(ConfSyntaxError):
        parse(text)


def test_translate_harbor_config():
    out, notes = translate(HARBOR_NGINX, rules({"registry:5000": ["127.77.0.1:5000", "127.77.0.2:5000"],
                                                "ui:80": ["127.77.0.3:80"]}))
    found = directives(out)
    assert ("upstream", "server", ["127.77.0.1:5000"]) in found
    assert ("upstream", "server", ["127.77.0.2:5000"]) in found
    assert ("upstream", "server", ["127.77.0.3:80"]) in found
    assert ("server", "listen", ["127.77.0.9:80"]) in found
    assert ("main", "daemon", ["off"]) in found and ("main", "pid", ["/rt/nginx.pid"]) in found
    assert ("main", "error_log", ["/rt/logs/error.log"]) in found
    assert ("http", "proxy_temp_path", ["/rt/tmp/proxy"]) in found
    # What is not an address or a path is untouched.
    for kept in [("server", "server_name", ["harbor.example.com"]), ("server", "client_max_body_size", ["0"]),
                 ("location", "proxy_pass", ["http://registry/v2/"]), ("location", "return", ["404"]),
                 ("location", "proxy_set_header", ["Host", "$host"]), ("main", "worker_processes", ["auto"])]:
        assert kept in found
    assert not any(name == "user" for _c, name, _a in found)
    assert any("registry:5000 ->" in n for n in notes)


def test_upstream_without_endpoints_is_down():
    out, _ = translate(HARBOR_NGINX, rules({"registry:5000": [], "ui:80": ["127.77.0.3:80"]}))
    assert ("upstream", "server", ["127.0.0.1:1", "down"]) in directives(out)


def test_unknown_upstream_host_is_left_for_nginx_to_reject():
    out, _ = translate(HARBOR_NGINX, rules({}))
    assert ("upstream", "server", ["registry:5000"]) in directives(out)


@pytest.mark.parametrize(
    ("line", "expected"),
    [("include mime.types;", ("include", ["/host/etc/nginx/mime.types"])),
     ("ssl_certificate /etc/nginx/cert/https.crt;", ("ssl_certificate", ["/host/etc/nginx/cert/https.crt"])),
     ("root /srv/$host;", ("root", ["/srv/$host"])),
     ("access_log /var/log/nginx/access.log main;", ("access_log", ["/rt/logs/access.log", "main"])),
     ("access_log off;", ("access_log", ["off"])),
     ("proxy_temp_path /var/tmp/p 1 2;", ("proxy_temp_path", ["/rt/tmp/proxy", "1", "2"])),
     ("location / { proxy_pass http://ui:80/x; }", ("proxy_pass", ["http://127.77.0.3:80/x"])),
     ("location / { proxy_pass http://other/x; }", ("proxy_pass", ["http://other/x"]))],
    ids=["relative-include", "ssl-file", "variable-path", "access-log", "access-log-off", "temp-path",
         "proxy-pass-service", "proxy-pass-unknown"],
)
def test_http_rules(line, expected):
    out, _ = translate(f"http {{ {line} }}", rules({"ui:80": ["127.77.0.3:80"]}))
    assert expected in [(name, args) for _c, name, args in directives(out)]


def test_main_directives_forced_and_user_on_request():
    out, _ = translate("user nginx;\ndaemon on;\npid /run/nginx.pid;\nerror_log /x.log warn;\n",
                       rules(worker_user="root"))
    found = [(n, a) for c, n, a in directives(out) if c == "main"]
    assert found == [("user", ["root"]), ("daemon", ["off"]), ("pid", ["/rt/nginx.pid"]),
                     ("error_log", ["/rt/logs/error.log", "warn"])]


def test_duplicate_listens_after_translation_are_dropped():
    out, _ = translate("http { server { listen 80; listen 0.0.0.0:80; listen 443 ssl; } }", rules())
    assert [a for _c, n, a in directives(out) if n == "listen"] == [["127.77.0.9:80"], ["127.77.0.9:443", "ssl"]]
    assert first_listen_port(out) == 80


def test_nginx_launch(tmp_path):
    pod = PodLayout("nginx-0", "127.77.0.9", tmp_path)
    (tmp_path / "etc/nginx").mkdir(parents=True)
    (tmp_path / "etc/nginx/nginx.conf").write_text(HARBOR_NGINX)
    launch = nginx_launch(pod, {"registry:5000": ["127.77.0.1:5000"], "ui:80": ["127.77.0.3:80"]})
    runtime = tmp_path / ".harborlab/nginx"
    assert launch.argv[0] == "nginx" and launch.argv[-2:] == ["-c", str(runtime / "nginx.conf")]
    assert list(launch.files) == [runtime / "nginx.conf"] and launch.health_url == "http://127.77.0.9:80/"
    assert (tmp_path / "etc/nginx/nginx.conf").read_text() == HARBOR_NGINX  # the mounted file is untouched


@pytest.mark.parametrize(("conf", "needle"), [(None, "no nginx.conf"), ("http {", "unexpected end")],
                         ids=["missing", "broken"])
def test_nginx_launch_errors(tmp_path, conf, needle):
    if conf is not None:
        (tmp_path / "etc/nginx").mkdir(parents=True)
        (tmp_path / "etc/nginx/nginx.conf").write_text(conf)
    with pytest.raises(LaunchError, match=needle):
        nginx_launch(PodLayout("n", "127.77.0.9", tmp_path), {})


def test_ui_launch(tmp_path):
    pod = PodLayout("ui-0", "127.77.0.3", tmp_path, env={"CONFIG_PATH": "/etc/ui/app.conf", "_REDIS_URL": "r"})
    admin = {"MYSQL_HOST": "db", "MYSQL_PWD": "pw", "HARBOR_ADMIN_PASSWORD": "H", "EMAIL_PWD": "not-needed"}
    launch = ui_launch(pod, admin, python="/py")
    assert launch.argv == ["/py", "-m", "harborlab.ui", "--config-dir", str(tmp_path / "etc/ui"),
                           "--listen", "127.77.0.3:80"]
    assert launch.env == {"MYSQL_HOST": "db", "MYSQL_PWD": "pw", "HARBOR_ADMIN_PASSWORD": "H",
                          "CONFIG_PATH": "/etc/ui/app.conf", "_REDIS_URL": "r"}


def test_ui_reads_its_key_from_etc_ui_whatever_config_path_says(tmp_path):
    # Harbor 1.2 authutils.go: privateKey = "/etc/ui/private_key.pem", not relative to CONFIG_PATH.
    pod = PodLayout("ui-1", "127.77.0.5", tmp_path, env={"CONFIG_PATH": "/etc/harbor/app.conf"})
    assert ui_launch(pod, {}, python="/py").argv[4] == str(tmp_path / "etc/ui")


def test_catalog_launches_each_image_the_same_way(tmp_path):
    from harborlab.programs import CATALOG, Surroundings, launch_for

    pod = PodLayout("p", "127.77.0.4", tmp_path, env={"CONFIG_PATH": "/etc/ui/app.conf"})
    (tmp_path / "etc/nginx").mkdir(parents=True)
    (tmp_path / "etc/nginx/nginx.conf").write_text(HARBOR_NGINX)
    around = Surroundings(endpoints={"registry:5000": ["127.77.0.1:5000"], "ui:80": ["127.77.0.3:80"]},
                          adminserver_env={"MYSQL_HOST": "db"}, python="/py")
    programs = {image: launch_for(image, pod, around).argv[0] for image in CATALOG}
    assert programs == {"vmware/registry:2.6.2-photon": "docker-registry",
                        "vmware/nginx-photon:1.11.13": "nginx", "vmware/harbor-ui:v1.2.0": "/py"}
    assert CATALOG["vmware/registry:2.6.2-photon"].config_path == "/etc/registry/config.yml"
    assert launch_for("vmware/harbor-adminserver:v1.2.0", pod, around) is None
