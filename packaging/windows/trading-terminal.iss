; Inno Setup script: installer for the one-folder bundle built by `python packaging\build.py`.
; Compile on Windows:  iscc /DAppVersion=0.1.0 packaging\windows\trading-terminal.iss
; (the version must be the one in terminal\__init__.py; build.py prints it). Output: dist\.
; Names and paths match packaging\bundle_config.py (APP_NAME, DISPLAY_NAME, PUBLISHER).

#ifndef AppVersion
  #error Pass the version: iscc /DAppVersion=X.Y.Z trading-terminal.iss
#endif
#define AppName "Trading Terminal"
#define AppExe "trading-terminal.exe"
#define BundleDir "..\..\dist\trading-terminal"

[Setup]
AppId={{6E3C1A52-7B0D-4C55-9A0B-2F1E8C4D9A17}
AppName={#AppName}
AppVersion={#AppVersion}
AppPublisher=Trading Terminal contributors
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
; Per-user install by default (no administrator needed); the user may choose all users.
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\..\dist
OutputBaseFilename=trading-terminal-{#AppVersion}-setup
SetupIconFile=..\..\resources\icons\app.ico
UninstallDisplayIcon={app}\{#AppExe}
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
; LicenseFile=..\..\LICENSE   (enable once the repository has a LICENSE file)

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "{#BundleDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\{#AppName}"; Filename: "{app}\{#AppExe}"
Name: "{group}\Uninstall {#AppName}"; Filename: "{uninstallexe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

; Settings, the order journal and logs live in the user's AppData folders and are kept on
; uninstall (a reinstall finds the trader's workspaces); secrets stay in Windows Credential Manager.
