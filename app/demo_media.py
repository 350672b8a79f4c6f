"""Small real media files for the demo catalog, made on the spot (nothing binary is
committed): an H.264 MP4 clip drawn frame by frame with PyAV, and a one-page PDF."""

from __future__ import annotations

import io


def demo_video(seconds: int = 4, width: int = 320, height: int = 180) -> bytes:
    """An MP4 of moving colour bars."""
    import av
    from av import VideoFrame

    colours = [
        (235, 128, 128),
        (210, 16, 146),
        (170, 166, 16),
        (145, 54, 34),
        (106, 202, 222),
        (81, 90, 240),
        (41, 240, 110),
        (16, 128, 128),
    ]
    out_buf = io.BytesIO()
    with av.open(out_buf, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "28"}
        for i in range(seconds * 24):
            frame = VideoFrame(width, height, "yuv420p")
            shift = i * 2
            y_plane, u_plane, v_plane = frame.planes
            for plane, index, w, h in (
                (y_plane, 0, width, height),
                (u_plane, 1, width // 2, height // 2),
                (v_plane, 2, width // 2, height // 2),
            ):
                row = bytes(
                    colours[((x + shift * w // width) * 8 // w) % 8][index] for x in range(w)
                )
                row += bytes(plane.line_size - w)
                plane.update(row * h)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out_buf.getvalue()


def demo_pdf(title: str, lines: list[str]) -> bytes:
    """A valid one-page PDF with a title and lines of text (Helvetica, built by hand)."""

    def escape(text: str) -> str:
        text = text.encode("latin-1", "replace").decode("latin-1")
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    ops = ["BT", "/F1 20 Tf", "72 760 Td", f"({escape(title)}) Tj", "/F1 12 Tf", "0 -34 Td"]
    for line in lines:
        ops += [f"({escape(line)}) Tj", "0 -18 Td"]
    ops.append("ET")
    content = "\n".join(ops).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)
