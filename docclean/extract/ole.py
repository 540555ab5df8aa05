"""OLE2 compound files: a password-protected Office document, or a Word 97-2003 .doc.

A password-protected .docx (or .xlsx) is an OLE2 container holding an `EncryptedPackage`
stream: rejected `encrypted`. A `.doc` (a `WordDocument` stream) is rejected
`unsupported_format` with how to convert it: no well-kept Python library reads the Word
binary format's text, and LibreOffice, which does, is far too heavy to require at run time.
Any other OLE2 file is an office document docclean does not read: rejected
`unsupported_format`, naming it where its streams tell (an Excel or PowerPoint 97-2003 file,
a Microsoft Works .wps) and saying to save it as .docx or .txt; an OLE2 file whose streams say
nothing known is named as what such a file usually is in a Chinese drop, an older Kingsoft WPS
document (or another program's file).
"""

from __future__ import annotations

import io

from docclean.errors import RejectedInput
from docclean.extract import Extracted, missing_library

DOC_CONVERSION = (
    "The file is a Word 97-2003 .doc document, which docclean cannot read: convert it to .docx "
    "(Word's Save As, or `soffice --headless --convert-to docx FILE` with LibreOffice) and drop the .docx instead."
)
SAVE_AS_DOCX = "which docclean cannot read: open it in WPS Office or Word, save it as .docx (or .txt) and drop that instead."


def extract_ole(data: bytes) -> Extracted:
    """Never returns: every OLE2 file is rejected with the reason that fits it (see the module docstring)."""
    try:
        import olefile
    except ImportError:
        raise missing_library("OLE2 (.doc or encrypted Office)", "olefile") from None
    try:
        with olefile.OleFileIO(io.BytesIO(data)) as container:
            streams = {"/".join(path) for path in container.listdir(streams=True, storages=False)}
    except Exception as error:
        # olefile raises OSError and others on a damaged header, FAT or directory.
        raise RejectedInput(
            "malformed", f"The file is an OLE2 compound file (.doc) but its structure is damaged ({error})."
        ) from None
    if "EncryptedPackage" in streams:
        raise RejectedInput(
            "encrypted",
            "The file is a password-protected Office document: open it with its password, save an "
            "unprotected copy and drop that instead.",
        )
    if "WordDocument" in streams:
        raise RejectedInput("unsupported_format", DOC_CONVERSION)
    raise RejectedInput("unsupported_format", f"The file is {_other_office_file(streams)}, {SAVE_AS_DOCX}")


def _other_office_file(streams: set[str]) -> str:
    """What an OLE2 file without a WordDocument stream is, by the streams its programs write."""
    if "Workbook" in streams or "Book" in streams:
        return "an Excel 97-2003 spreadsheet (.xls, or a Kingsoft .et), not a Word document"
    if "PowerPoint Document" in streams:
        return "a PowerPoint 97-2003 presentation (.ppt, or a Kingsoft .dps), not a Word document"
    if "CONTENTS" in streams or "MatOST" in streams:
        return "a Microsoft Works document (.wps)"
    return "an OLE2 compound file that is not a Word document (an older Kingsoft WPS .wps, or another program's file)"
