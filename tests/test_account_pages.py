"""Profile, avatar, data export and account deletion pages."""

from __future__ import annotations

import io
import json

from PIL import Image

from tests.conftest import PASSWORD, events_of


def png_bytes(size=(300, 200), with_exif=False, fmt="PNG"):
    image = Image.new("RGB", size, (200, 30, 30))
    out = io.BytesIO()
    kwargs = {}
    if with_exif:
        exif = Image.Exif()
        exif[0x010F] = "SecretCameraMaker"  # Make
        exif[0x8825] = {2: (1.0, 2.0, 3.0)}  # GPS
        kwargs["exif"] = exif
    image.save(out, format=fmt, **kwargs)
    return out.getvalue()


def test_profile_edit(client, auth, users):
    user = auth.login()
    page = client.get("/account/profile").get_data(as_text=True)
    assert user.email in page and 'for="name"' in page
    response = client.submit("/account/profile", {"name": "New Name", "bio": "I teach bees."})
    assert response.status_code == 302
    saved = users.get(user.id)
    assert (saved.name, saved.bio) == ("New Name", "I teach bees.")


def test_profile_rejects_bad_input_and_changes_nothing(client, auth, users):
    user = auth.login(name="Kept Name")
    for data in [
        {"name": "", "bio": ""},
        {"name": "<b>bold</b>", "bio": ""},
        {"name": "x" * 101, "bio": ""},
        {"name": "Ok", "bio": "b" * 2001},
        {"name": "Bell\x07", "bio": ""},
    ]:
        response = client.submit("/account/profile", data)
        assert response.status_code == 422, data
    saved = users.get(user.id)
    assert saved.name == "Kept Name" and saved.bio == ""


def test_avatar_upload_is_reencoded_without_metadata(client, auth, users, app):
    user = auth.login()
    data = {"avatar": (io.BytesIO(png_bytes((600, 400), with_exif=True, fmt="JPEG")), "me.jpg")}
    response = client.submit("/account/avatar", data, content_type="multipart/form-data")
    assert response.status_code == 303
    key = users.get(user.id).avatar_key
    assert key.startswith("avatars/") and key.endswith(".webp") and "me" not in key
    served = client.get(f"/media/{key}")
    assert served.status_code == 200 and served.mimetype == "image/webp"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    body = served.get_data()
    served.close()
    assert b"SecretCameraMaker" not in body and b"Exif" not in body
    with Image.open(io.BytesIO(body)) as img:
        assert img.size == (256, 256) and not img.getexif()
    # Replacing deletes the old file; removing deletes the new one.
    client.submit(
        "/account/avatar",
        {"avatar": (io.BytesIO(png_bytes()), "b.png")},
        content_type="multipart/form-data",
    )
    assert client.get(f"/media/{key}").status_code == 404
    new_key = users.get(user.id).avatar_key
    client.submit("/account/avatar/delete")
    assert users.get(user.id).avatar_key is None
    assert client.get(f"/media/{new_key}").status_code == 404


def test_avatar_rejects_what_is_not_an_image(client, auth, users):
    user = auth.login()
    fakes = [
        (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "a.png"),
        (b"GIF89a<script>alert(1)</script>", "a.gif"),
        (b"%PDF-1.4 fake", "a.jpg"),
        (b"", "empty.png"),
    ]
    for content, name in fakes:
        response = client.submit(
            "/account/avatar",
            {"avatar": (io.BytesIO(content), name)},
            content_type="multipart/form-data",
            follow_redirects=True,
        )
        assert response.status_code == 200
        text = response.get_data(as_text=True)
        assert "not an image" in text or "Choose an image" in text, name
    assert users.get(user.id).avatar_key is None


def test_avatar_refuses_decompression_bombs(client, auth, users):
    user = auth.login()
    # A tiny file that claims 20000 x 20000 pixels.
    bomb = io.BytesIO()
    Image.new("1", (20000, 20000)).save(bomb, format="PNG", optimize=True)
    assert len(bomb.getvalue()) < 2 * 1024 * 1024
    bomb.seek(0)
    response = client.submit(
        "/account/avatar",
        {"avatar": (bomb, "bomb.png")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "too many pixels" in response.get_data(as_text=True)
    assert users.get(user.id).avatar_key is None


def test_avatar_size_limits(app_factory):
    app = app_factory(AVATAR_MAX_BYTES=1000, MAX_CONTENT_LENGTH=50_000)
    from tests.conftest import Users

    user = Users(app).create()
    client = app.test_client()
    client.submit("/signin", {"email": user.email, "password": PASSWORD})
    big = client.submit(
        "/account/avatar",
        {"avatar": (io.BytesIO(png_bytes((400, 400))), "a.png")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "larger than" in big.get_data(as_text=True)
    huge = client.submit(
        "/account/avatar",
        {"avatar": (io.BytesIO(b"0" * 60_000), "a.png")},
        content_type="multipart/form-data",
    )
    assert huge.status_code == 413
    assert "larger than" in huge.get_data(as_text=True)


def test_media_keys_cannot_escape_storage(client):
    for name in ["..%2f..%2fetc%2fpasswd", "x.webp", "../lectern.sqlite3", "%00.webp"]:
        assert client.get(f"/media/avatars/{name}").status_code == 404


def test_export_my_data(client, auth):
    user = auth.login(name="Exporter")
    client.submit("/projects/new", {"name": "P1", "description": "d"})
    response = client.get("/account/export")
    assert response.headers["Content-Disposition"].startswith("attachment")
    data = json.loads(response.get_data())
    assert data["user"]["email"] == user.email and data["user"]["name"] == "Exporter"
    assert [p["name"] for p in data["projects"]] == ["P1"]
    assert "password" not in response.get_data(as_text=True)


def test_delete_account_needs_the_password(client, auth, users, app):
    user = auth.login()
    client.submit("/projects/new", {"name": "Goes too"})
    wrong = client.submit("/account/delete", {"password": "not my password"})
    assert wrong.status_code == 422 and users.get(user.id) is not None
    done = client.submit("/account/delete", {"password": PASSWORD})
    assert done.status_code == 302
    assert users.get(user.id) is None
    assert client.get("/account/profile").status_code == 302
    assert len(events_of(app, "user.deleted")) == 1
    again = app.test_client().submit("/signin", {"email": user.email, "password": PASSWORD})
    assert again.status_code == 401
