; Inno Setup script of the RIS Studio Windows installer (per-user install, no admin rights).
; Build: python packaging\build.py   (makes dist\ris-studio\ with PyInstaller), then
;        iscc /DAppVersion=0.1.0 packaging\windows\ris-studio.iss   -> dist\ris-studio-0.1.0-windows-x64-setup.exe
; Not runnable on the Linux build machine; CI (.github/workflows/installers.yml) runs it.

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif

[Setup]
AppId={{6E2B3A5C-4B8F-4E0B-9C1D-2F6A7B8C9D0E}
AppName=RIS Studio
AppVersion={#AppVersion}
AppPublisher=RIS Studio maintainers
DefaultDirName={localappdata}\Programs\RIS Studio
DefaultGroupName=RIS Studio
PrivilegesRequired=lowest
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\..\dist
OutputBaseFilename=ris-studio-{#AppVersion}-windows-x64-setup
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
UninstallDisplayIcon={app}\ris-studio.exe
LicenseFile=..\..\resources\LICENSES.md

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
; The whole PyInstaller one-folder build: ris-studio.exe (windowed), rismodel.exe (console), _internal\.
Source: "..\..\dist\ris-studio\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\RIS Studio"; Filename: "{app}\ris-studio.exe"
Name: "{group}\RIS Studio demo images"; Filename: "{app}\ris-studio.exe"; Parameters: """{app}\_internal\resources\demo"""
Name: "{group}\{cm:UninstallProgram,RIS Studio}"; Filename: "{uninstallexe}"
Name: "{autodesktop}\RIS Studio"; Filename: "{app}\ris-studio.exe"; Tasks: desktopicon

[Run]
Filename: "{app}\ris-studio.exe"; Description: "{cm:LaunchProgram,RIS Studio}"; Flags: nowait postinstall skipifsilent

; Settings (registry via QSettings), fine-tune runs and logs live under the user's profile
; (%LOCALAPPDATA%\RIS Studio), never in {app}: uninstalling leaves the user's work alone.
