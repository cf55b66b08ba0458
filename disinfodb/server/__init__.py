"""The faces over HTTP: the JSON API (`api/`) and the web pages (`web/`) over one `Service`."""
