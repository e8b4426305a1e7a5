"""The fakes against the shapes ../shared/reference/vps-apis.md documents, without our clients."""

from __future__ import annotations

import base64
import time

import httpx

from tests.fakes.digitalocean import FakeDigitalOcean
from tests.fakes.hetzner import FakeHetzner
from tests.fakes.vultr import FakeVultr

HETZNER_SERVER = {"name": "mail.a.example", "server_type": "cx22", "image": "debian-12", "location": "fsn1"}


def client(fake: FakeHetzner | FakeDigitalOcean | FakeVultr, token: str | None = None) -> httpx.Client:
    return httpx.Client(base_url=fake.url, headers={"Authorization": f"Bearer {token or fake.token}"})


# Hetzner -------------------------------------------------------------------------------------
def test_hetzner_error_envelope_and_401(hetzner_api: FakeHetzner) -> None:
    response = client(hetzner_api, "bad").get("/servers")
    assert response.status_code == 401
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"} and error["code"] == "unauthorized"


def test_hetzner_datacenters_are_gone(hetzner_api: FakeHetzner) -> None:
    with client(hetzner_api) as http:
        assert http.get("/datacenters").status_code == 410
        assert http.get("/datacenters/1").status_code == 410
        created = http.post("/servers", json={**HETZNER_SERVER, "labels": {}}).json()["server"]
    assert "datacenter" not in created and created["location"]["name"] == "fsn1"


def test_hetzner_create_response_and_action_lifecycle(hetzner_api: FakeHetzner) -> None:
    with client(hetzner_api) as http:
        response = http.post("/servers", json=HETZNER_SERVER)
        assert response.status_code == 201
        body = response.json()
        assert set(body) == {"server", "action", "next_actions", "root_password"}
        assert body["action"]["command"] == "create_server" and body["action"]["status"] == "running"
        assert body["action"]["resources"] == [{"id": body["server"]["id"], "type": "server"}]
        ipv6 = body["server"]["public_net"]["ipv6"]["ip"]
        assert ipv6.endswith("/64")
        statuses = [http.get(f"/actions/{body['action']['id']}").json()["action"]["status"] for _ in range(3)]
        assert statuses == ["running", "success", "success"]
        assert http.get(f"/servers/{body['server']['id']}").json()["server"]["status"] == "running"


def test_hetzner_action_error_carries_code(hetzner_api: FakeHetzner) -> None:
    hetzner_api.fail_next_action = "server_create_failed"
    hetzner_api.action_polls = 1
    with client(hetzner_api) as http:
        action = http.post("/servers", json=HETZNER_SERVER).json()["action"]
        done = http.get(f"/actions/{action['id']}").json()["action"]
    assert done["status"] == "error" and done["error"]["code"] == "server_create_failed"


def test_hetzner_pagination_and_label_selector(hetzner_api: FakeHetzner) -> None:
    for i in range(3):
        hetzner_api.add_server(f"s{i}", {"managed-by": "email-infra"})
    hetzner_api.add_server("other", {"role": "web"})
    with client(hetzner_api) as http:
        first = http.get("/servers", params={"label_selector": "managed-by=email-infra", "per_page": 2}).json()
        last = http.get(
            "/servers", params={"label_selector": "managed-by=email-infra", "per_page": 2, "page": 2}
        ).json()
        negated = http.get("/servers", params={"label_selector": "!managed-by"}).json()
    assert first["meta"]["pagination"]["next_page"] == 2 and first["meta"]["pagination"]["total_entries"] == 3
    assert last["meta"]["pagination"]["next_page"] is None and len(last["servers"]) == 1
    assert [s["name"] for s in negated["servers"]] == ["other"]


def test_hetzner_rate_limit_headers_and_429(hetzner_api: FakeHetzner) -> None:
    with client(hetzner_api) as http:
        ok = http.get("/servers")
        hetzner_api.rate_limit_next = 1
        limited = http.get("/servers")
    for response in (ok, limited):
        assert {"ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"} <= set(response.headers)
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limit_exceeded"
    assert limited.headers["ratelimit-remaining"] == "0" and int(limited.headers["ratelimit-reset"]) > time.time()


def test_hetzner_quota_and_unique_names(hetzner_api: FakeHetzner) -> None:
    with client(hetzner_api) as http:
        assert http.post("/servers", json=HETZNER_SERVER).status_code == 201
        taken = http.post("/servers", json=HETZNER_SERVER)
        hetzner_api.quota_exceeded = True
        quota = http.post("/servers", json={**HETZNER_SERVER, "name": "b"})
    assert (taken.status_code, taken.json()["error"]["code"]) == (409, "uniqueness_error")
    assert (quota.status_code, quota.json()["error"]["code"]) == (403, "resource_limit_exceeded")


def test_hetzner_change_dns_ptr_is_an_action(hetzner_api: FakeHetzner) -> None:
    server = hetzner_api.add_server("a")
    ip = server["public_net"]["ipv4"]["ip"]
    with client(hetzner_api) as http:
        response = http.post(
            f"/servers/{server['id']}/actions/change_dns_ptr", json={"ip": ip, "dns_ptr": "mail.a.example"}
        )
        assert response.status_code == 201 and response.json()["action"]["command"] == "change_dns_ptr"
        refused = http.post(
            f"/servers/{server['id']}/actions/change_dns_ptr", json={"ip": "127.0.9.99", "dns_ptr": "x"}
        )
    assert refused.status_code == 400


# DigitalOcean -------------------------------------------------------------------------------
DROPLET = {"name": "mail.a.example", "region": "fra1", "size": "s-2vcpu-4gb", "image": "debian-12-x64", "ipv6": True}


def test_digitalocean_error_body_and_401(digitalocean_api: FakeDigitalOcean) -> None:
    response = client(digitalocean_api, "bad").get("/v2/droplets")
    assert response.status_code == 401
    assert response.json() == {"id": "Unauthorized", "message": "Unable to authenticate you"}


def test_digitalocean_create_is_202_with_an_action_link(digitalocean_api: FakeDigitalOcean) -> None:
    with client(digitalocean_api) as http:
        response = http.post("/v2/droplets", json=DROPLET)
        assert response.status_code == 202
        body = response.json()
        (link,) = body["links"]["actions"]
        assert link["rel"] == "create" and link["href"].endswith(f"/v2/actions/{link['id']}")
        assert body["droplet"]["status"] == "new"
        statuses = [http.get(f"/v2/actions/{link['id']}").json()["action"]["status"] for _ in range(2)]
        assert statuses == ["in-progress", "completed"]
        droplet = http.get(f"/v2/droplets/{body['droplet']['id']}").json()["droplet"]
        assert droplet["status"] == "active" and droplet["networks"]["v4"][0]["type"] == "public"
        assert http.delete(f"/v2/droplets/{droplet['id']}").status_code == 204
        gone = http.get(f"/v2/droplets/{droplet['id']}")
    assert gone.status_code == 404 and gone.json()["id"] == "not_found"


def test_digitalocean_pagination_and_tags(digitalocean_api: FakeDigitalOcean) -> None:
    for i in range(3):
        digitalocean_api.add_server(f"s{i}.example", ["email-infra"])
    digitalocean_api.add_server("other.example", ["web"])
    with client(digitalocean_api) as http:
        first = http.get("/v2/droplets", params={"tag_name": "email-infra", "per_page": 2}).json()
        last = http.get(first["links"]["pages"]["next"]).json()
    assert first["meta"]["total"] == 3 and len(first["droplets"]) == 2
    assert "next" not in last["links"]["pages"] and len(last["droplets"]) == 1


def test_digitalocean_rate_limit_headers_quota_and_validation(digitalocean_api: FakeDigitalOcean) -> None:
    with client(digitalocean_api) as http:
        ok = http.get("/v2/droplets")
        digitalocean_api.rate_limit_next = 1
        limited = http.get("/v2/droplets")
        bad_size = http.post("/v2/droplets", json={**DROPLET, "size": "nope"})
        digitalocean_api.quota_exceeded = True
        quota = http.post("/v2/droplets", json=DROPLET)
    assert {"ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"} <= set(ok.headers)
    assert limited.status_code == 429 and limited.json()["id"] == "too_many_requests"
    assert bad_size.status_code == 422 and "invalid size" in bad_size.json()["message"]
    assert quota.status_code == 422 and "droplet limit" in quota.json()["message"]


def test_digitalocean_ptr_follows_an_fqdn_name(digitalocean_api: FakeDigitalOcean) -> None:
    droplet = digitalocean_api.add_server("plain")
    assert digitalocean_api.ptr(droplet["id"]) == {}
    digitalocean_api.action_polls = 1
    with client(digitalocean_api) as http:
        action = http.post(f"/v2/droplets/{droplet['id']}/actions", json={"type": "rename", "name": "mail.a.example"})
        assert action.status_code == 201
        http.get(f"/v2/actions/{action.json()['action']['id']}")
    assert set(digitalocean_api.ptr(droplet["id"]).values()) == {"mail.a.example"}


# Vultr --------------------------------------------------------------------------------------
INSTANCE = {
    "region": "fra",
    "plan": "vc2-2c-4gb",
    "os_id": 2136,
    "label": "mail.a.example",
    "hostname": "mail.a.example",
}


def test_vultr_error_body_and_401(vultr_api: FakeVultr) -> None:
    response = client(vultr_api, "bad").get("/v2/instances")
    assert response.status_code == 401
    assert response.json() == {"error": "Invalid API token.", "status": 401}


def test_vultr_instance_boots_from_pending_with_no_address(vultr_api: FakeVultr) -> None:
    user_data = base64.b64encode(b"#cloud-config\n").decode()
    with client(vultr_api) as http:
        response = http.post("/v2/instances", json={**INSTANCE, "user_data": user_data, "enable_ipv6": True})
        assert response.status_code == 202
        instance = response.json()["instance"]
        assert (instance["status"], instance["main_ip"], instance["server_status"]) == ("pending", "0.0.0.0", "none")
        seen = [http.get(f"/v2/instances/{instance['id']}").json()["instance"] for _ in range(3)]
    assert [(i["status"], i["server_status"]) for i in seen] == [
        ("pending", "none"),
        ("active", "installingbooting"),
        ("active", "ok"),
    ]
    assert seen[-1]["main_ip"] != "0.0.0.0" and seen[-1]["v6_main_ip"]


def test_vultr_user_data_must_be_base64(vultr_api: FakeVultr) -> None:
    response = client(vultr_api).post("/v2/instances", json={**INSTANCE, "user_data": "#cloud-config\n!"})
    assert response.status_code == 400 and response.json()["status"] == 400


def test_vultr_cursor_pagination_and_tag_filter(vultr_api: FakeVultr) -> None:
    for i in range(3):
        vultr_api.add_server(f"s{i}.example", ["email-infra"])
    vultr_api.add_server("other.example", ["web"])
    with client(vultr_api) as http:
        first = http.get("/v2/instances", params={"tag": "email-infra", "per_page": 2}).json()
        last = http.get(
            "/v2/instances", params={"tag": "email-infra", "per_page": 2, "cursor": first["meta"]["links"]["next"]}
        ).json()
    assert first["meta"]["total"] == 3 and first["meta"]["links"]["next"]
    assert last["meta"]["links"]["next"] == "" and len(last["instances"]) == 1


def test_vultr_reverse_dns_is_204_and_rate_limits(vultr_api: FakeVultr) -> None:
    instance = vultr_api.add_server("a.example")
    with client(vultr_api) as http:
        v4 = http.post(
            f"/v2/instances/{instance['id']}/ipv4/reverse",
            json={"ip": instance["main_ip"], "reverse": "mail.a.example"},
        )
        v6 = http.post(
            f"/v2/instances/{instance['id']}/ipv6/reverse",
            json={"ip": instance["v6_main_ip"], "reverse": "mail.a.example"},
        )
        vultr_api.rate_limit_next = 1
        limited = http.get("/v2/instances")
    assert (v4.status_code, v4.content, v6.status_code) == (204, b"", 204)
    assert limited.status_code == 429 and limited.json()["status"] == 429


def test_vultr_instance_can_boot_in_one_read_for_end_to_end_runs(vultr_api: FakeVultr) -> None:
    vultr_api.boot_reads, vultr_api.ok_reads = 1, 0
    with client(vultr_api) as http:
        instance = http.post("/v2/instances", json=INSTANCE).json()["instance"]
        seen = http.get(f"/v2/instances/{instance['id']}").json()["instance"]
    assert (seen["status"], seen["server_status"]) == ("active", "ok")
