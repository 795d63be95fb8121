"""The generated nginx configuration is accepted by nginx itself (`nginx -t`)."""

import shutil
import subprocess

import pytest

from revue.cdn.nginx import nginx_config
from revue.cdn.policy import ResourceTypes

NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


@pytest.mark.skipif(
    NGINX is None,
    reason="nginx is not installed (make install installs Debian's nginx-light where apt exists)",
)
def test_nginx_accepts_the_configuration_for_the_current_manifest(tmp_path, deployed):
    store, manifest = deployed
    server = nginx_config(
        manifest, store.root, ResourceTypes(), listen=18080, cache_dir=tmp_path / "cache"
    )
    app_url = manifest.files["js/app.js"].url
    assert f'"{app_url}" "public, max-age=31536000, immutable";' in server
    assert "/assets/index.html" not in server.split("server {")[0]  # HTML is not immutable
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
        f"events {{}}\nhttp {{\n  access_log off;\n{server}\n}}\n"
    )
    checked = subprocess.run(
        [NGINX, "-t", "-c", str(conf), "-p", str(tmp_path)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    assert "syntax is ok" in checked.stderr


def test_unsafe_names_never_reach_the_configuration(deployed):
    store, manifest = deployed
    entry = manifest.files["js/app.js"]
    hostile = entry.model_copy(update={"url": '/assets/x";} evil {.abc123def456.js'})
    manifest = manifest.model_copy(update={"files": {**manifest.files, "x.js": hostile}})
    server = nginx_config(manifest, store.root, ResourceTypes())
    assert "evil" not in server
    assert "1 with names unsafe here" in server
