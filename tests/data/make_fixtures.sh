#!/usr/bin/env sh
# Rebuilds the committed media fixtures. Tests never run this: they read the committed files,
# so neither espeak-ng nor ffmpeg is needed at test time.
#   apt-get install -y espeak-ng ffmpeg
# voice_note.ogg: a WhatsApp-like voice note, Ogg/Opus, mono, 16 kHz, well under 30 KB.
# voice_note.aac / .m4a / .mp3: the same sentence in the other audio types WhatsApp delivers,
# so magic-byte sniffing is tested on real encoder output (a few KB each; the MP3 without an
# ID3 tag, so its first bytes are an MPEG frame sync).
set -eu
cd "$(dirname "$0")"
wav="$(mktemp --suffix=.wav)"
trap 'rm -f "$wav"' EXIT
espeak-ng -v pt-br -s 150 -w "$wav" "quero ver as fotos da praia"
ffmpeg -loglevel error -y -i "$wav" -ac 1 -ar 16000 -c:a libopus -b:a 16k -application voip \
    -map_metadata -1 -fflags +bitexact -flags:a +bitexact voice_note.ogg
for target in "aac:-f adts" "m4a:-f ipod" "mp3:-f mp3 -id3v2_version 0 -write_xing 0"; do
    ext="${target%%:*}"
    ffmpeg -loglevel error -y -i "$wav" -ac 1 -ar 16000 -b:a 16k -map_metadata -1 \
        -fflags +bitexact -flags:a +bitexact ${target#*:} "voice_note.$ext"
done
ls -l voice_note.*
