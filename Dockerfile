# A container image from the static binary, built with `make container` (it builds bin/osdr with
# CGO_ENABLED=0 and puts the host's CA bundle beside it). FROM scratch needs no registry pull.
FROM scratch
COPY bin/osdr /osdr
COPY bin/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
USER 65534:65534
ENTRYPOINT ["/osdr"]
