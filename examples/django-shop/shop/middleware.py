"""WhiteNoise, plus static files that appear after the process started."""

import os

from whitenoise.middleware import WhiteNoiseMiddleware


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    """WhiteNoise lists STATIC_ROOT once, at start. During a rolling deploy a page rendered
    by the new release can ask a host still running the old one for the new fingerprinted
    files, which are copied into the old release's STATIC_ROOT after its processes started:
    a path the list lacks is looked up on disk, with WhiteNoise's own checks (a canonical
    path, inside STATIC_ROOT), and remembered."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.static_root and not self.autorefresh:  # (autorefresh looks everything up)
            self.directories.append((os.path.abspath(self.static_root).rstrip(os.sep) + os.sep, self.static_prefix))

    def process_request(self, request):
        response = super().process_request(request)
        if response is not None or self.autorefresh or not request.path_info.startswith(self.static_prefix):
            return response
        static_file = self.find_file(request.path_info)
        if static_file is None:
            return None
        self.files[request.path_info] = static_file
        return self.serve(static_file, request)
