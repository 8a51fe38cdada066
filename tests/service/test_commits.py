"""Contract of associate-commit and of the commit/repo URL endpoints for GitHub, GitLab and
Bitbucket remotes given as HTTPS, ssh:// and scp-like (git@host:owner/repo.git)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.service.helpers import error_fields, fresh, run_body

SHA = "0123456789abcdef0123456789abcdef01234567"


def _created(api: httpx.Client, **fields: Any) -> dict[str, Any]:
    body = run_body(**fields)
    assert api.post("/api/v1/runs", json=body).status_code == 201
    return body


def test_associate_commit_records_it_and_touches_updated_at(api: httpx.Client) -> None:
    body = _created(api, status="success")
    before = api.get(f"/api/v1/runs/{body['event_id']}").json()
    commit = {"commit_hash": "ABCDEF12", "commit_source": "llm", "commit_author": "A <a@b.c>",
              "commit_timestamp": "2025-06-01T14:00:00+02:00"}  # fmt: skip
    reply = api.post(f"/api/v1/runs/{body['event_id']}/associate-commit", json=commit)
    assert reply.status_code == 200
    assert reply.json() == {"status": "success", "event_id": body["event_id"], "run_id": body["run_id"], "commit_hash": "abcdef12"}
    row = api.get(f"/api/v1/runs/{body['event_id']}").json()
    assert (row["git_commit_hash"], row["git_commit_source"], row["git_commit_author"]) == ("abcdef12", "llm", "A <a@b.c>")
    assert row["git_commit_timestamp"] == "2025-06-01T14:00:00+02:00"  # git's time, as sent
    assert row["updated_at"] > before["updated_at"] and row["status"] == "success"


def test_associate_commit_of_an_unknown_run_is_404(api: httpx.Client) -> None:
    reply = api.post(f"/api/v1/runs/{fresh('missing')}/associate-commit", json={"commit_hash": SHA, "commit_source": "ci"})
    assert reply.status_code == 404


@pytest.mark.parametrize(
    ("commit", "field"),
    [({"commit_hash": "abc123", "commit_source": "ci"}, "commit_hash"),
     ({"commit_hash": SHA + "0", "commit_source": "ci"}, "commit_hash"),
     ({"commit_hash": "ghijklm", "commit_source": "ci"}, "commit_hash"),
     ({"commit_hash": SHA, "commit_source": "robot"}, "commit_source"),
     ({"commit_hash": SHA}, "commit_source"),
     ({"commit_hash": SHA, "commit_source": "ci", "commit_timestamp": "2025-06-01T12:00:00"}, "commit_timestamp"),
     ({"commit_hash": SHA, "commit_source": "ci", "branch": "main"}, "branch")],
)  # fmt: skip
def test_invalid_commit_is_422_naming_the_field(api: httpx.Client, commit: dict[str, Any], field: str) -> None:
    body = _created(api)
    reply = api.post(f"/api/v1/runs/{body['event_id']}/associate-commit", json=commit)
    assert reply.status_code == 422
    assert field in error_fields(reply.json())
    assert api.get(f"/api/v1/runs/{body['event_id']}").json()["git_commit_hash"] is None


@pytest.mark.parametrize(
    ("remote", "repo", "commit"),
    [("https://github.com/owner/repo.git", "https://github.com/owner/repo", "https://github.com/owner/repo/commit/"),
     ("git@github.com:owner/repo.git", "https://github.com/owner/repo", "https://github.com/owner/repo/commit/"),
     ("ssh://git@github.com/owner/repo", "https://github.com/owner/repo", "https://github.com/owner/repo/commit/"),
     ("https://gitlab.com/group/sub/repo", "https://gitlab.com/group/sub/repo", "https://gitlab.com/group/sub/repo/-/commit/"),
     ("git@gitlab.example.com:group/repo.git", "https://gitlab.example.com/group/repo",
      "https://gitlab.example.com/group/repo/-/commit/"),
     ("ssh://git@bitbucket.org:22/team/repo.git", "https://bitbucket.org/team/repo", "https://bitbucket.org/team/repo/commits/"),
     ("https://bitbucket.org/team/repo", "https://bitbucket.org/team/repo", "https://bitbucket.org/team/repo/commits/"),
     ("https://user:secret@github.com/owner/repo/", "https://github.com/owner/repo", "https://github.com/owner/repo/commit/")],
)  # fmt: skip
def test_commit_and_repo_urls_follow_the_host(api: httpx.Client, remote: str, repo: str, commit: str) -> None:
    body = _created(api, git_repo=remote, git_commit_hash=SHA)
    assert api.get(f"/api/v1/runs/{body['event_id']}/repo-url").json() == {"repo_url": repo}
    assert api.get(f"/api/v1/runs/{body['event_id']}/commit-url").json() == {"commit_url": commit + SHA}


@pytest.mark.parametrize(("remote", "sha"), [(None, SHA), ("/home/me/repo", SHA), ("https://github.com/only-owner", SHA)])
def test_urls_are_null_without_a_usable_remote(api: httpx.Client, remote: str | None, sha: str) -> None:
    body = _created(api, git_repo=remote, git_commit_hash=sha)
    assert api.get(f"/api/v1/runs/{body['event_id']}/repo-url").json() == {"repo_url": None}
    assert api.get(f"/api/v1/runs/{body['event_id']}/commit-url").json() == {"commit_url": None}


def test_commit_url_is_null_without_a_commit(api: httpx.Client) -> None:
    body = _created(api, git_repo="git@github.com:owner/repo.git")
    assert api.get(f"/api/v1/runs/{body['event_id']}/commit-url").json() == {"commit_url": None}


@pytest.mark.parametrize("endpoint", ["commit-url", "repo-url"])
def test_urls_of_an_unknown_run_are_404(api: httpx.Client, endpoint: str) -> None:
    assert api.get(f"/api/v1/runs/{fresh('missing')}/{endpoint}").status_code == 404
