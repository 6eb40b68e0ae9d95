#!/bin/sh
# Installs the Debian font packages that letterset/generator.py renders A..J from.
# Latin, decorative and handwriting fonts only (no CJK, Indic, Thai, Arabic or
# icon packages), plus texlive-fonts-extra (about 540 MB download).
# Run as root on Debian 12 (bookworm):   sh data/fonts_setup.sh [--no-texlive]
set -e
export DEBIAN_FRONTEND=noninteractive
PKGS="
fonts-3270 fonts-adf-accanthis fonts-adf-baskervald fonts-adf-berenis
fonts-adf-gillius fonts-adf-ikarius fonts-adf-irianis fonts-adf-libris
fonts-adf-mekanus fonts-adf-oldania fonts-adf-romande fonts-adf-solothurn
fonts-adf-switzera fonts-adf-tribun fonts-adf-universalis fonts-adf-verana
fonts-aenigma fonts-agave fonts-alee fonts-allerta fonts-amiga
fonts-ancient-scripts fonts-anonymous-pro fonts-apropal fonts-arapey
fonts-arkpandora fonts-atarismall fonts-averia-gwf fonts-averia-sans-gwf
fonts-averia-serif-gwf fonts-b612 fonts-babelstone-modern fonts-bajaderka
fonts-bebas-neue fonts-beteckna fonts-blankenburg fonts-bpg-georgian
fonts-breip fonts-bwht fonts-cabin fonts-cabinsketch fonts-campania
fonts-cantarell fonts-cardo fonts-century-catalogue fonts-cherrybomb
fonts-clear-sans fonts-cmu fonts-comfortaa fonts-comic-neue fonts-compagnon
fonts-courier-prime fonts-creep2 fonts-croscore fonts-crosextra-caladea
fonts-crosextra-carlito fonts-dancingscript fonts-dclfonts fonts-dejavu-core
fonts-dejavu-extra fonts-dejavu-web fonts-dkg-handwriting fonts-dosis
fonts-dseg fonts-dustin fonts-ebgaramond fonts-ebgaramond-extra
fonts-ecolier-court fonts-ecolier-lignes-court fonts-elstob fonts-engadget
fonts-essays1743 fonts-eurofurence fonts-f500 fonts-fantasma
fonts-fantasque-sans fonts-fanwood fonts-femkeklaver fonts-ferrite-core
fonts-firacode fonts-freefont-otf fonts-freefont-ttf fonts-gamaliel
fonts-gemunu-libre fonts-georgewilliams fonts-glasstty fonts-gnutypewriter
fonts-go fonts-gotico-antiqua fonts-goudybookletter fonts-havana fonts-hermit
fonts-humor-sans fonts-inconsolata fonts-inter fonts-inter-variable
fonts-isabella fonts-jetbrains-mono fonts-joscelyn fonts-junction
fonts-junicode fonts-jura fonts-karla fonts-karmilla fonts-katex
fonts-kaushanscript fonts-klaudia-berenika fonts-kristi fonts-lato fonts-ldco
fonts-le-murmure fonts-league-mono fonts-league-spartan fonts-leckerli-one
fonts-levien-museum fonts-levien-typoscript fonts-liberation
fonts-liberation2 fonts-libfinal fonts-lindenhill fonts-linex
fonts-linuxlibertine fonts-lmodern fonts-lobster fonts-lobstertwo fonts-lyx
fonts-manrope fonts-millimetre fonts-monofur fonts-monoid
fonts-monoid-halfloose fonts-monoid-halftight fonts-monoid-loose
fonts-monoid-tight fonts-mononoki fonts-mph-2b-damase fonts-mplus
fonts-national-park fonts-noto-extra fonts-noto-mono fonts-oflb-asana-math
fonts-oflb-euterpe fonts-okolaks fonts-oldstandard fonts-open-sans
fonts-opendin fonts-opendyslexic fonts-osifont fonts-oxygen fonts-paratype
fonts-pc fonts-pc-extra fonts-play fonts-povray fonts-prociono fonts-proggy
fonts-quattrocento fonts-quicksand fonts-radisnoir fonts-rampart fonts-reggae
fonts-roadgeek fonts-roboto fonts-roboto-fontface fonts-roboto-hinted
fonts-roboto-slab fonts-roboto-unhinted fonts-rocknroll fonts-routed-gothic
fonts-rufscript fonts-sixtyfour fonts-sjfonts fonts-solide-mirage fonts-sora
fonts-spleen fonts-staypuft fonts-stick fonts-stix fonts-summersby
fonts-terminus fonts-terminus-otb fonts-texgyre fonts-texgyre-math
fonts-tiresias fonts-tomsontalks fonts-train fonts-triod-postnaja fonts-tuffy
fonts-unifont fonts-uniol fonts-uralic fonts-urw-base35 fonts-vollkorn
fonts-wine fonts-yanone-kaffeesatz"
apt-get update
# shellcheck disable=SC2086
apt-get install -y --no-install-recommends $PKGS
if [ "$1" != "--no-texlive" ]; then
    apt-get install -y --no-install-recommends texlive-fonts-extra
fi
