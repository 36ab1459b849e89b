// Issue 22 item 16: the file name a server gives a download (Content-Disposition, else the answering
// URL's last path segment), read as Constellr's download script reads it, and never a path: a
// header is untrusted input.
import { describe, expect, it } from 'vitest';
import { fileNameFromDisposition, fileNameFromUrl, looksLikeFileName, safeFileName } from '../../src/api/file-name.js';

describe('Content-Disposition file names', () => {
  it('reads filename (quoted or a token) first, as the official script does, else filename* (RFC 8187)', () => {
    expect(fileNameFromDisposition('attachment; filename="LSTPRECISION_SBA02_U155VHMQ_20260708T235815Z_LST.tiff"')).toBe('LSTPRECISION_SBA02_U155VHMQ_20260708T235815Z_LST.tiff');
    expect(fileNameFromDisposition('attachment; filename=LST.tiff; size=3')).toBe('LST.tiff');
    expect(fileNameFromDisposition('attachment;filename = "a b.json"')).toBe('a b.json');
    expect(fileNameFromDisposition(`attachment; filename="a_b.tif"; filename*=UTF-8''a%C3%A9b.tif`)).toBe('a_b.tif');
    expect(fileNameFromDisposition(`attachment; filename*=UTF-8''na%C3%AFve%20file.tif`)).toBe('naïve file.tif');
    expect(fileNameFromDisposition(`attachment; filename*=iso-8859-1'en'%E9t%E9.tif`)).toBe('été.tif');
    expect(fileNameFromDisposition('attachment; filename="quo\\"ted.tif"')).toBe('quo"ted.tif');
    expect(fileNameFromDisposition('inline; FILENAME="UPPER.TIF"')).toBe('UPPER.TIF');
  });

  it('no name, or nothing usable: null (the key keeps its own name)', () => {
    for (const h of [null, '', 'attachment', 'attachment; filename=""', 'attachment; filename="   "', `attachment; filename*=UTF-8''%ZZ`, 'attachment; name="x.tif"'])
      expect(fileNameFromDisposition(h), String(h)).toBeNull();
  });

  it('a hostile name is one plain file name or nothing: no directories, no `..`, no control characters', () => {
    expect(fileNameFromDisposition('attachment; filename="../../../etc/passwd"')).toBe('passwd');
    expect(fileNameFromDisposition('attachment; filename="..\\\\..\\\\win.ini"')).toBe('win.ini');
    expect(fileNameFromDisposition('attachment; filename="/abs/path.tif"')).toBe('path.tif');
    expect(fileNameFromDisposition(`attachment; filename*=UTF-8''..%2F..%2Fx.tif`)).toBe('x.tif');
    for (const bad of ['..', '.', 'dir/', 'a\u0000b.tif', 'new\nline.tif', 'tab\t.tif', 'del\u007f.tif', '\u0085nel.tif']) {
      expect(safeFileName(bad), JSON.stringify(bad)).toBeNull();
      expect(fileNameFromDisposition(`attachment; filename*=UTF-8''${encodeURIComponent(bad)}`), JSON.stringify(bad)).toBeNull();
    }
    // the mirror's own path rules still apply to what is left (reserved names, length): it is one key segment
    expect(safeFileName('.constellr-sync')).toBe('.constellr-sync');
    expect(safeFileName('x'.repeat(400))).toHaveLength(400);
    // NFC, so one name has one spelling
    expect(safeFileName('e\u0301.tif')).toBe('\u00e9.tif');
  });

  it("else the answering URL's last path segment, decoded (an opaque object id stays what it is)", () => {
    expect(fileNameFromUrl('https://s.example/b/o/23a483f4c0de?X-Amz-Signature=ab')).toBe('23a483f4c0de');
    expect(fileNameFromUrl('https://s.example/b/My%20File.tif')).toBe('My File.tif');
    expect(fileNameFromUrl('https://s.example/b/..%2F..%2Fx')).toBe('x');
    expect(fileNameFromUrl('https://s.example/')).toBeNull();
    expect(fileNameFromUrl('not a url')).toBeNull();
  });

  it('tells a file name from an opaque object id', () => {
    for (const n of ['LST.tiff', 'a.tar.gz', 'METADATA.json', 'x.h5']) expect(looksLikeFileName(n), n).toBe(true);
    for (const n of ['23a483f4c0de', 'LST', '.hidden', 'trailing.', 'x.toolongextension']) expect(looksLikeFileName(n), n).toBe(false);
  });
});
